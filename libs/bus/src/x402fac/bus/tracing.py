"""OpenTelemetry context carried in NATS headers (W3C traceparent), both ways."""

from collections.abc import Mapping

from opentelemetry import context, propagate


def inject(headers: dict[str, str] | None = None) -> dict[str, str]:
    carrier = headers if headers is not None else {}
    propagate.inject(carrier)
    return carrier


def extract(headers: Mapping[str, str] | None) -> context.Context:
    return propagate.extract(dict(headers or {}))
