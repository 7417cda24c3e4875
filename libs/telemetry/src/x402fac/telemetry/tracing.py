"""OpenTelemetry set-up: the SDK's tracer provider only where spans are exported.

Without an exporter, spans stay the API's no-op ones (measured: the SDK's recording spans cost the
worker and the ledger 6-8 % of their CPU for nothing). Exporters, from the standard variables:
- OTLP over HTTP when `OTEL_TRACES_EXPORTER` names `otlp`, or when it is unset and
  `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (the exporter reads
  the rest: headers, timeout, compression);
- the console when `OTEL_TRACES_EXPORTER` names `console`, or `X402FAC_TRACE_CONSOLE=1`.
`OTEL_SDK_DISABLED=true` turns everything off; `OTEL_SERVICE_NAME` overrides the service name and
`OTEL_RESOURCE_ATTRIBUTES` adds attributes. Trace context travels in NATS headers either way.
"""

import contextlib
from collections.abc import Iterator, Mapping

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from x402fac.settings import ServiceSettings, declared, environ, read

_configured = False


def _exporters(env: Mapping[str, str]) -> list[SpanExporter]:
    # OTEL_* are OpenTelemetry's standard variables, read as its SDK reads them: not ours to declare.
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return []
    names = {n.strip() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()}
    if not names and (
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        names.add("otlp")
    if read(env, declared(ServiceSettings, "trace_console"), bool):
        names.add("console")
    unknown = names - {"otlp", "console", "none"}
    if unknown:
        raise ValueError(f"OTEL_TRACES_EXPORTER: unsupported exporter(s) {sorted(unknown)}")
    exporters: list[SpanExporter] = []
    if "otlp" in names:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporters.append(OTLPSpanExporter())
    if "console" in names:
        exporters.append(ConsoleSpanExporter())
    return exporters


def setup_tracing(service_name: str, env: Mapping[str, str] | None = None) -> bool:
    """Install the SDK provider if an exporter is configured; True when spans are recorded."""
    global _configured
    if _configured:
        return True
    env = environ(env)
    exporters = _exporters(env)
    if not exporters:
        return False
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or service_name})
    provider = TracerProvider(resource=resource)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _configured = True
    return True


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


# The span of work nobody traces: neither exported here nor continuing a caller's trace.
_NOT_TRACED = contextlib.nullcontext(trace.INVALID_SPAN)


def _continues_trace(carrier: Mapping[str, str] | None) -> bool:
    return carrier is not None and "traceparent" in carrier


def server_span(
    tracer_: trace.Tracer,
    name: str,
    carrier: Mapping[str, str] | None = None,
    kind: trace.SpanKind = trace.SpanKind.SERVER,
) -> contextlib.AbstractContextManager[trace.Span]:
    """A span continuing the caller's trace (W3C `traceparent` in `carrier`, if any).

    When nothing is exported and the caller sent no trace context, no span is made at all: the
    API's no-op spans still cost ~10 % of the gateway's CPU per request, for nothing."""
    if not _configured and not _continues_trace(carrier):
        return _NOT_TRACED
    return _server_span(tracer_, name, carrier, kind)


@contextlib.contextmanager
def _server_span(
    tracer_: trace.Tracer, name: str, carrier: Mapping[str, str] | None, kind: trace.SpanKind
) -> Iterator[trace.Span]:
    parent = propagate.extract(dict(carrier or {}))
    with tracer_.start_as_current_span(name, context=parent, kind=kind) as span:
        yield span


def client_span(
    tracer_: trace.Tracer, name: str, record_exception: bool = True, **attributes: str
) -> contextlib.AbstractContextManager[trace.Span]:
    """A CLIENT span around one outgoing call (a NATS request, an RPC to a node); none when nothing
    is exported (the caller's trace context, if any, still travels: it is the current one).

    `record_exception=False` where an exception's text may hold a secret (an RPC URL with its key):
    the span then only says that the call failed, and with which exception type.
    """
    if not _configured:
        return _NOT_TRACED
    return _client_span(tracer_, name, record_exception, attributes)


@contextlib.contextmanager
def _client_span(
    tracer_: trace.Tracer, name: str, record_exception: bool, attributes: dict[str, str]
) -> Iterator[trace.Span]:
    with tracer_.start_as_current_span(
        name,
        kind=trace.SpanKind.CLIENT,
        attributes=attributes,
        record_exception=record_exception,
        set_status_on_exception=record_exception,
    ) as span:
        try:
            yield span
        except Exception as exc:
            if not record_exception:
                span.set_status(trace.Status(trace.StatusCode.ERROR))
                span.set_attribute("error.type", type(exc).__name__)
            raise
