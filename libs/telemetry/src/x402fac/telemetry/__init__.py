"""Prometheus metrics (one registry), OpenTelemetry set-up, JSON logging."""

from .logs import setup_logging
from .metrics import (
    BUS_LATENCY,
    HANDLER_LATENCY,
    HTTP_LATENCY,
    HTTP_REQUESTS,
    OUTCOMES,
    REGISTRY,
    metrics_text,
    serve_metrics,
)
from .tracing import setup_tracing, tracer

__all__ = [
    "BUS_LATENCY",
    "HANDLER_LATENCY",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "OUTCOMES",
    "REGISTRY",
    "metrics_text",
    "serve_metrics",
    "setup_logging",
    "setup_tracing",
    "tracer",
]
