"""Prometheus metrics (one registry), OpenTelemetry set-up, JSON logging."""

from .logs import setup_logging
from .metrics import (
    BUS_LATENCY,
    HANDLER_LATENCY,
    HTTP_LATENCY,
    HTTP_REQUESTS,
    NATS_CONNECTED,
    OUTCOMES,
    PENDING_OLDEST_SECONDS,
    PENDING_SETTLEMENTS,
    REGISTRY,
    RPC_ERRORS,
    RPC_LATENCY,
    WORKER_INFLIGHT,
    WORKER_UP,
    metrics_text,
    observe_rpc,
    rpc_host,
    serve_metrics,
)
from .tracing import server_span, setup_tracing, shutdown_tracing, tracer

__all__ = [
    "BUS_LATENCY",
    "HANDLER_LATENCY",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "NATS_CONNECTED",
    "OUTCOMES",
    "PENDING_OLDEST_SECONDS",
    "PENDING_SETTLEMENTS",
    "REGISTRY",
    "RPC_ERRORS",
    "RPC_LATENCY",
    "WORKER_INFLIGHT",
    "WORKER_UP",
    "metrics_text",
    "observe_rpc",
    "rpc_host",
    "serve_metrics",
    "server_span",
    "setup_logging",
    "setup_tracing",
    "shutdown_tracing",
    "tracer",
]
