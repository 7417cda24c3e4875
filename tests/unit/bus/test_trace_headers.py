"""Trace context survives a NATS hop: what the gateway injects, the worker extracts."""

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from x402fac.bus.tracing import extract, inject


def test_trace_context_round_trips_through_headers():
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("gateway.verify") as span:
        headers = inject()
    assert headers["traceparent"].split("-")[1] == f"{span.get_span_context().trace_id:032x}"
    carried = trace.get_current_span(extract(headers)).get_span_context()
    assert carried.trace_id == span.get_span_context().trace_id
    assert carried.span_id == span.get_span_context().span_id


def test_no_context_no_headers():
    assert inject() == {}
