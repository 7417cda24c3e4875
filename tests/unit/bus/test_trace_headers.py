"""Trace context survives a NATS hop: what the gateway injects, the worker continues — also in a
service that exports nothing itself."""

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from x402fac.bus.tracing import inject
from x402fac.telemetry import server_span


def test_trace_context_round_trips_through_headers():
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("gateway.verify") as span:
        headers = inject()
    assert headers["traceparent"].split("-")[1] == f"{span.get_span_context().trace_id:032x}"
    with server_span(trace.get_tracer("worker"), "worker.verify", headers):  # this process exports nothing
        carried = trace.get_current_span().get_span_context()
        onward = inject()
    assert carried.trace_id == span.get_span_context().trace_id
    assert onward["traceparent"] == headers["traceparent"]  # the next hop still joins the caller's trace


def test_no_context_no_headers_and_no_span():
    with server_span(trace.get_tracer("worker"), "worker.verify", {}) as span:
        assert span is trace.INVALID_SPAN
        assert inject() == {}
