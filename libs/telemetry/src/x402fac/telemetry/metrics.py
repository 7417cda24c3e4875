"""One Prometheus registry per process, and the metrics every service shares."""

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, start_http_server
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS = Counter(
    "x402fac_http_requests", "HTTP requests by route and status", ["route", "status"], registry=REGISTRY
)
HTTP_LATENCY = Histogram(
    "x402fac_http_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
OUTCOMES = Counter(
    "x402fac_outcomes",
    "verify/settle outcomes by family, network and outcome (valid, settled, or a reason code)",
    ["kind", "family", "network", "outcome"],
    registry=REGISTRY,
)
BUS_LATENCY = Histogram(
    "x402fac_bus_request_seconds",
    "NATS request/reply latency by subject",
    ["subject"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
HANDLER_LATENCY = Histogram(
    "x402fac_handler_seconds",
    "Service handler latency by endpoint",
    ["endpoint"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)


def metrics_text() -> tuple[bytes, str]:
    """The exposition body and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def serve_metrics(port: int, host: str = "0.0.0.0") -> None:
    """Expose /metrics on its own port (services without an HTTP server of their own)."""
    start_http_server(port, addr=host, registry=REGISTRY)
