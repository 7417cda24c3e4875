"""What the gateway does, as plain async code the HTTP handlers and the tests call.

Parse and validate the body, apply the per-IP limit, route by network family to
`x402.<family>.verify|settle`, and map the worker's answer (or its absence) to HTTP.
The gateway has no chain code: workers answer everything about a payment.
"""

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import msgspec
from nats.aio.client import Client
from nats.js import JetStreamContext

from x402fac.bus import (
    BusError,
    BusTimeout,
    RemoteError,
    Unavailable,
    counters,
    encode_key,
    request_raw,
    subjects,
)
from x402fac.protocol import (
    FAMILIES,
    BodyError,
    Reason,
    SettleResponse,
    SupportedResponse,
    VerifyRequest,
    VerifyResponse,
    decode_request,
    family_of,
    settle_response_for_version,
)

from .config import GatewayConfig
from .errors import GatewayError

log = logging.getLogger(__name__)
_encode = msgspec.json.encode
_settle_decoder = msgspec.json.Decoder(SettleResponse)
_supported_decoder = msgspec.json.Decoder(SupportedResponse)


@dataclass
class Answer:
    """An HTTP answer: status, JSON body, extra headers."""

    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class SupportedCache:
    """`/supported` assembled from the live workers, refreshed at most every `ttl` seconds."""

    def __init__(self, nc: Client, ttl: float) -> None:
        self.nc = nc
        self.ttl = ttl
        self.value = SupportedResponse()
        self.live_families: list[str] = []
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> SupportedResponse:
        if time.monotonic() - self._fetched_at < self.ttl:
            return self.value
        async with self._lock:
            if time.monotonic() - self._fetched_at >= self.ttl:
                await self._refresh()
        return self.value

    async def _refresh(self) -> None:
        answers = await asyncio.gather(*(self._ask(f) for f in FAMILIES))
        merged = SupportedResponse()
        live = []
        for family, part in zip(FAMILIES, answers, strict=True):
            if part is None:
                continue
            live.append(family)
            merged.kinds.extend(part.kinds)
            for name, signers in part.signers.items():
                merged.signers.setdefault(name, []).extend(signers)
            merged.extensions.extend(e for e in part.extensions if e not in merged.extensions)
        self.value, self.live_families, self._fetched_at = merged, live, time.monotonic()

    async def _ask(self, family: str) -> SupportedResponse | None:
        try:
            return _supported_decoder.decode(await request_raw(self.nc, subjects.supported(family), b"", 1.0))
        except (BusError, msgspec.MsgspecError):
            return None


class IdenticalSettles:
    """Byte-identical settle bodies on this gateway share one trip to the worker.

    Concurrent copies wait for the first one's answer; a settled payment's answer is remembered, so a
    retry never leaves the gateway. Only successes are kept: any other outcome may change on retry.
    The worker's ledger claim is what guarantees one settlement; this only saves the hops.
    """

    def __init__(self, remembered: int = 10_000) -> None:
        self.remembered = remembered
        self._inflight: dict[bytes, asyncio.Future[Answer]] = {}
        self._settled: OrderedDict[bytes, Answer] = OrderedDict()

    async def run(self, body: bytes, forward: Callable[[], Awaitable[Answer]]) -> Answer:
        digest = hashlib.blake2b(body, digest_size=32).digest()
        if digest in self._settled:
            return self._settled[digest]
        leader = self._inflight.get(digest)
        if leader is not None:
            try:
                return await asyncio.shield(leader)
            except asyncio.CancelledError:
                if not leader.cancelled():
                    raise
                return await forward()  # the first copy was cut off: this one goes itself
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._inflight[digest] = future
        try:
            answer = await forward()
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # marks it retrieved: no warning when no copy was waiting
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            del self._inflight[digest]
        future.set_result(answer)
        if answer.status == 200 and b'"success":true' in answer.body:
            self._settled[digest] = answer
            if len(self._settled) > self.remembered:
                self._settled.popitem(last=False)
        return answer


class Facilitator:
    def __init__(self, nc: Client, config: GatewayConfig) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.config = config
        self.supported = SupportedCache(nc, config.supported_ttl)
        self.settle_once = IdenticalSettles()

    async def check_ip_limit(self, kind: str, client_ip: str) -> None:
        """Per client IP and endpoint, shared by every gateway replica through one counter."""
        limit = self.config.ip_limit_per_minute
        if limit <= 0:
            return
        window, retry_after = counters.current_window(60)
        try:
            count = await counters.increment(
                self.js, subjects.rate(f"ip.{kind}", encode_key(client_ip), window)
            )
        except Exception as exc:  # counters unavailable: serve rather than refuse every payment
            log.warning("rate counter unavailable: %s", exc)
            return
        if count > limit:
            raise GatewayError(
                429,
                "rate_limited",
                f"more than {limit} {kind} requests per minute from {client_ip}",
                retry_after,
            )

    async def verify(self, body: bytes, client_ip: str) -> Answer:
        return await self._handle("verify", body, client_ip)

    async def settle(self, body: bytes, client_ip: str) -> Answer:
        return await self._handle("settle", body, client_ip)

    async def _handle(self, kind: str, body: bytes, client_ip: str) -> Answer:
        if len(body) > self.config.max_body_bytes:
            raise GatewayError(413, "body_too_large", f"body over {self.config.max_body_bytes} bytes")
        try:
            request = decode_request(body)
        except BodyError as exc:
            raise GatewayError(400, "invalid_request", str(exc)) from None
        await self.check_ip_limit(kind, client_ip)
        network = request.payment_requirements.network
        family = family_of(network)
        if family is None:
            return self._unsupported(kind, network)
        if kind == "settle":
            return await self.settle_once.run(body, lambda: self._forward(kind, family, body, request))
        return await self._forward(kind, family, body, request)

    async def _forward(self, kind: str, family: str, body: bytes, request: VerifyRequest) -> Answer:
        # v2 bodies travel as received (already validated); v1 bodies as their v2 conversion.
        payload = body if request.x402_version == 2 else _encode(request)
        subject = subjects.verify(family) if kind == "verify" else subjects.settle(family)
        timeout = self.config.verify_timeout if kind == "verify" else self.config.settle_timeout
        try:
            reply = await request_raw(self.nc, subject, payload, timeout)
        except Unavailable:
            raise GatewayError(
                503, "worker_unavailable", f"no {family} worker is running", retry_after=5
            ) from None
        except BusTimeout:
            if kind == "settle":
                return self._settle_unknown(request)
            raise GatewayError(
                503, "worker_timeout", f"the {family} worker did not answer in time", 2
            ) from None
        except RemoteError as exc:
            log.error("worker %s failed: %s", subject, exc)
            raise GatewayError(
                500, "internal_error", "the worker failed; nothing was settled by this call"
            ) from None
        if kind == "settle" and request.x402_version == 1:
            reply = _encode(settle_response_for_version(_settle_decoder.decode(reply), 1))
        return Answer(reply)

    @staticmethod
    def _unsupported(kind: str, network: str) -> Answer:
        message = f"network {network!r} is not supported by this facilitator"
        if kind == "verify":
            response = VerifyResponse(
                is_valid=False, invalid_reason=Reason.UNSUPPORTED_NETWORK, invalid_message=message
            )
        else:
            response = SettleResponse(
                success=False,
                transaction="",
                network=network,
                error_reason=Reason.UNSUPPORTED_NETWORK,
                error_message=message,
            )
        return Answer(_encode(response))

    @staticmethod
    def _settle_unknown(request: VerifyRequest) -> Answer:
        """The worker may have claimed and broadcast: the ledger keeps it pending; a retry gets the outcome."""
        response = SettleResponse(
            success=False,
            transaction="",
            network=request.payment_requirements.network,
            error_reason=Reason.SETTLEMENT_PENDING,
            error_message="the settlement outcome is not known yet; retry the same settle for it",
        )
        return Answer(_encode(settle_response_for_version(response, request.x402_version)))
