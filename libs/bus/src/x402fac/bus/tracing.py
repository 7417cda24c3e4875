"""OpenTelemetry context carried in NATS headers (W3C traceparent), both ways."""

from opentelemetry import propagate, trace


def inject(headers: dict[str, str] | None = None) -> dict[str, str]:
    """The current trace context added to `headers` (nothing when no trace is going on)."""
    carrier = headers if headers is not None else {}
    if trace.get_current_span().get_span_context().is_valid:
        propagate.inject(carrier)
    return carrier
