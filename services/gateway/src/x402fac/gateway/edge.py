"""What the gateway decides about a request before its handler runs: who sent it (the client address,
forwarded headers trusted only when configured) and whether it is admitted (bounded work in flight).

Admission never queues: a request over its bound is answered 503 + Retry-After at once, so a flood of
settles waiting on chains cannot hold the process, and verify, /supported and /health stay served.
Bounds: every request but /health and /metrics counts against `max_in_flight`; verify and settle
also against their family's own lane (`verify_in_flight`, `settle_in_flight`).
"""

import ipaddress
import logging
import weakref
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from litestar import Request
from nats.js import JetStreamContext

from x402fac.bus import counters, subjects
from x402fac.telemetry.metrics import GATEWAY_IN_FLIGHT, GATEWAY_REJECTED, labelled

from .config import GatewayConfig, Network
from .errors import GatewayError

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 1
ALL = "all"


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    parsed = _address(address)
    return parsed is not None and any(parsed in network for network in networks)


def client_ip(peer: str, forwarded: Iterable[str], config: GatewayConfig) -> str:
    """The client's address. Without `trust_proxy`, the peer's. With it, the peer is a proxy (one of
    `trusted_proxies` when that is set): walking X-Forwarded-For from the right, skipping trusted
    proxies, the first other hop is the client: the entry our proxy appended, which the client cannot
    choose (entries to its left are whatever the client sent)."""
    networks = config.proxy_networks
    if not config.trust_proxy or (networks and not _trusted(peer, networks)):
        return peer
    hops = [hop.strip() for header in forwarded for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop if _address(hop) is not None else peer
    return hops[0] if hops else peer


def request_ip(request: Request) -> str:
    """The client's address of an HTTP request (client_ip)."""
    peer = request.client.host if request.client else "unknown"
    return client_ip(peer, request.headers.getall("x-forwarded-for", []), request.app.state.config)


def cross_site_refused(request: Request, public_url: str) -> None:
    """GatewayError unless a state-changing browser request comes from this site: a JSON content type
    (another site cannot send one without a CORS preflight, which this gateway never grants) and, when
    the browser names its origin, this origin (the Host it asked, or the configured public URL)."""
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != "application/json":
        raise GatewayError(415, "unsupported_media_type", "send the body as application/json")
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise GatewayError(403, "forbidden", "requests from another site are refused")
    origin = request.headers.get("origin")
    if origin is None:
        return  # not a browser, or one that sends no Origin on same-origin requests
    hosts = {request.headers.get("host", "").lower(), urlsplit(public_url).netloc.lower()} - {""}
    if urlsplit(origin).netloc.lower() not in hosts:
        raise GatewayError(403, "forbidden", "requests from another site are refused")


async def per_minute_limit(js: JetStreamContext, scope: str, key: str, limit: int, refusal: str) -> None:
    """GatewayError 429 (`refusal`, Retry-After the minute's end) once `key`'s counter in `scope`,
    shared by every gateway replica, passes `limit` this minute; `limit` 0: none. When the counters
    are unavailable the request is served rather than refused (and logged)."""
    if limit <= 0:
        return
    window, retry_after = counters.current_window(60)
    try:
        count = await counters.increment(js, subjects.rate(scope, key, window))
    except Exception as exc:
        log.warning("rate counter unavailable: %s", exc)
        return
    if count > limit:
        raise GatewayError(429, "rate_limited", refusal, retry_after)


# Every Admission of the process, and the lanes whose gauge reads them: the gauge is read when metrics
# are scraped, not set twice per admission (four gauge writes, each under a lock, per payment request).
_admissions: "weakref.WeakSet[Admission]" = weakref.WeakSet()
_gauged_lanes: set[str] = set()


def _in_flight(lane: str) -> float:
    return float(sum(admission.in_flight.get(lane, 0) for admission in list(_admissions)))


class Admission:
    """Counters of requests in flight per lane, each with a bound."""

    def __init__(self, config: GatewayConfig) -> None:
        self.bounds = {ALL: config.max_in_flight, "verify": config.verify_in_flight}
        self.bounds["settle"] = config.settle_in_flight
        self.in_flight: dict[str, int] = defaultdict(int)
        _admissions.add(self)

    def _bound(self, lane: str) -> int:
        return self.bounds[lane.partition(":")[0]]

    @contextmanager
    def admit(self, lane: str) -> Iterator[None]:
        """Hold a place in `lane` ("all", "verify:<family>", "settle:<family>") while the block runs;
        GatewayError 503 at once when it is full."""
        if self.in_flight[lane] >= self._bound(lane):
            GATEWAY_REJECTED.labels(lane).inc()
            kind = "requests" if lane == ALL else lane.replace(":", " requests for ")
            raise GatewayError(
                503, "overloaded", f"too many {kind} in flight; retry shortly", RETRY_AFTER_SECONDS
            )
        self.in_flight[lane] += 1
        if lane not in _gauged_lanes:
            _gauged_lanes.add(lane)
            labelled(GATEWAY_IN_FLIGHT, lane).set_function(lambda: _in_flight(lane))
        try:
            yield
        finally:
            self.in_flight[lane] -= 1
