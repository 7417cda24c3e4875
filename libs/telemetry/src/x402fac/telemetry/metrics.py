"""One Prometheus registry per process, and the metrics every service shares."""

from typing import Any
from urllib.parse import urlsplit

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics import MetricWrapperBase

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

NATS_CONNECTED = Gauge(
    "x402fac_nats_connected",
    "1 while the service's NATS connection is up",
    ["service"],
    registry=REGISTRY,
)
WORKER_UP = Gauge(
    "x402fac_worker_up",
    "1 while this worker serves its family (0 while it drains)",
    ["family"],
    registry=REGISTRY,
)
WORKER_INFLIGHT = Gauge(
    "x402fac_worker_inflight",
    "verify/settle/supported requests this worker is handling now",
    ["family"],
    registry=REGISTRY,
)
WORKER_SETTLES = Gauge(
    "x402fac_worker_settles",
    "1 while this worker replica takes settle work (an EVM replica holding no signer key verifies only)",
    ["family"],
    registry=REGISTRY,
)
SIGNER_KEYS_HELD = Gauge(
    "x402fac_signer_keys_held",
    "signer keys of the shared pool this replica holds a lease on (0: this replica cannot settle)",
    ["family"],
    registry=REGISTRY,
)
SIGNER_GAS_BALANCE = Gauge(
    "x402fac_signer_gas_balance_wei",
    "native balance (wei) of each EVM signer this replica holds, read every 30 s: it pays the gas",
    ["network", "signer"],
    registry=REGISTRY,
)
LEDGER_CLAIMS = Counter(
    "x402fac_ledger_claims",
    "settle claims by what the ledger answered: claimed, attached (took over), busy / delivered"
    " (duplicates), failed, rate_limited, duplicate (memo)",
    ["status"],
    registry=REGISTRY,
)
PENDING_SETTLEMENTS = Gauge(
    "x402fac_pending_settlements",
    "settlement records not final yet, by family (as the ledger sees them)",
    ["family"],
    registry=REGISTRY,
)
PENDING_OLDEST_SECONDS = Gauge(
    "x402fac_pending_oldest_seconds",
    "age of the oldest settlement record not final yet (0 when none)",
    ["family"],
    registry=REGISTRY,
)
RPC_LATENCY = Histogram(
    "x402fac_rpc_request_seconds",
    "chain RPC call latency by node host (never the full URL: it may hold an API key)",
    ["host"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
RPC_ERRORS = Counter(
    "x402fac_rpc_errors",
    "chain RPC calls that failed at transport level (or 5xx/429) by node host",
    ["host"],
    registry=REGISTRY,
)
REVERTED_SETTLEMENT_GAS = Counter(
    "x402fac_reverted_settlement_gas",
    "gas burnt (and paid by us) by settlement transactions that reverted on chain, by network",
    ["family", "network"],
    registry=REGISTRY,
)

GATEWAY_IN_FLIGHT = Gauge(
    "x402fac_gateway_in_flight",
    "requests the gateway is handling now, by admission lane (all, verify:<family>, settle:<family>)",
    ["lane"],
    registry=REGISTRY,
)
GATEWAY_REJECTED = Counter(
    "x402fac_gateway_rejected",
    "requests answered 503 at once because their admission lane was full",
    ["lane"],
    registry=REGISTRY,
)
GATEWAY_CONNECTIONS = Gauge(
    "x402fac_gateway_connections", "open HTTP connections to the gateway", registry=REGISTRY
)
GATEWAY_CONNECTIONS_CLOSED = Counter(
    "x402fac_gateway_connections_closed",
    "connections the gateway closed itself: read_timeout (headers or body too slow), over_cap (the "
    "connection cap was reached), idle_evicted (an idle one closed to admit a new one)",
    ["reason"],
    registry=REGISTRY,
)


_children: dict[tuple[MetricWrapperBase, tuple[str, ...]], Any] = {}


def labelled(metric: MetricWrapperBase, *values: str) -> Any:
    """`metric.labels(*values)`, found once per process: per request, `labels` (a lock, a tuple of
    strings, their validation) costs more than the count or observation it precedes. Only for
    bounded label values, as every label of ours is."""
    key = (metric, values)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)
    return child


def rpc_host(url: str) -> str:
    """The label for a node URL: host[:port] only, so keys in paths or queries never leak."""
    return urlsplit(url).netloc.rsplit("@", 1)[-1] or "unknown"


class RpcMetrics:
    """One node's latency and error series, looked up once: per call, parsing the URL and finding
    the labelled series cost more than the observation."""

    def __init__(self, url: str) -> None:
        host = rpc_host(url)
        self._latency = RPC_LATENCY.labels(host)
        self._errors = RPC_ERRORS.labels(host)

    def observe(self, seconds: float, failed: bool) -> None:
        self._latency.observe(seconds)
        if failed:
            self._errors.inc()


def metrics_text() -> tuple[bytes, str]:
    """The exposition body and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def serve_metrics(port: int, host: str = "0.0.0.0") -> None:
    """Expose /metrics on its own port (services without an HTTP server of their own)."""
    start_http_server(port, addr=host, registry=REGISTRY)
