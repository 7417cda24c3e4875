"""What the gateway does, as plain async code the HTTP handlers and the tests call.

Parse and validate the body, apply the per-IP limit, route by network family to
`x402.<family>.verify|settle`, and map the worker's answer (or its absence) to HTTP.
The gateway has no chain code: workers answer everything about a payment.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import msgspec
from nats.aio.client import Client
from nats.js import JetStreamContext

from x402fac.bus import (
    BusError,
    BusTimeout,
    RemoteError,
    ReplyInbox,
    Unavailable,
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
    merge_supported,
    settle_response_for_version,
)
from x402fac.protocol.ledger import PaymentIdReply, PaymentIdStatus

from . import payment_ids
from .bazaar import bazaar_extension
from .config import GatewayConfig
from .edge import Admission, per_minute_limit
from .errors import GatewayError
from .listing import invalid_info, list_settled
from .payment_ids import InvalidIdentifier, payment_digest, payment_identifier

log = logging.getLogger(__name__)
_encode = msgspec.json.encode
_settle_decoder = msgspec.json.Decoder(SettleResponse)
_supported_decoder = msgspec.json.Decoder(SupportedResponse)
_verify_decoder = msgspec.json.Decoder(VerifyResponse)
# The worker must answer this long before the gateway gives up (transport and clock skew).
DEADLINE_MARGIN_SECONDS = 1.0
# What the gateway itself adds to every worker's extensions (discovery catalog, idempotency keys).
GATEWAY_EXTENSIONS = ("bazaar", "payment-identifier")


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

    async def is_live(self, family: str) -> bool:
        """Whether a worker of `family` answers; a family missing from the cached view is asked
        directly (no responders is answered at once), so a worker that just started is served."""
        await self.get()
        if family in self.live_families:
            return True
        if await self._ask(family) is None:
            return False
        async with self._lock:
            await self._refresh()
        return family in self.live_families

    async def _refresh(self) -> None:
        answers = await asyncio.gather(*(self._ask(f) for f in FAMILIES))
        live = {family: part for family, part in zip(FAMILIES, answers, strict=True) if part is not None}
        merged = merge_supported(live.values(), GATEWAY_EXTENSIONS)
        self.value, self.live_families, self._fetched_at = merged, list(live), time.monotonic()

    async def _ask(self, family: str) -> SupportedResponse | None:
        try:
            return _supported_decoder.decode(await request_raw(self.nc, subjects.supported(family), b"", 1.0))
        except (BusError, msgspec.MsgspecError):
            return None


class ReplicaCensus:
    """Every worker replica's own status (who it is, whether it settles, signer keys it holds),
    gathered from all of them at most every `ttl` seconds."""

    def __init__(self, nc: Client, ttl: float, listen: float = 0.25) -> None:
        self.nc = nc
        self.ttl = ttl
        self.listen = listen
        self.value: dict[str, list[dict]] = {}
        self._fetched_at = -float("inf")
        self._lock = asyncio.Lock()

    async def get(self) -> dict[str, list[dict]]:
        async with self._lock:
            if time.monotonic() - self._fetched_at >= self.ttl:
                answers = await asyncio.gather(*(self._gather(family) for family in FAMILIES))
                self.value = {f: a for f, a in zip(FAMILIES, answers, strict=True) if a}
                self._fetched_at = time.monotonic()
        return self.value

    async def _gather(self, family: str) -> list[dict]:
        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox)
        found: list[dict] = []
        try:
            await self.nc.publish(subjects.status(family), b"", reply=inbox)
            deadline = time.monotonic() + self.listen
            while (left := deadline - time.monotonic()) > 0:
                try:
                    msg = await sub.next_msg(timeout=left)
                except Exception:  # nothing more within the window
                    break
                with contextlib.suppress(msgspec.MsgspecError):
                    found.append(msgspec.json.decode(msg.data))
        finally:
            await sub.unsubscribe()
        return sorted(found, key=lambda status: str(status.get("replica", "")))


class Facilitator:
    def __init__(self, nc: Client, config: GatewayConfig, admission: Admission | None = None) -> None:
        self.nc = nc
        self.admission = admission or Admission(config)
        self.js: JetStreamContext = nc.jetstream()
        self.config = config
        self.supported = SupportedCache(nc, config.supported_ttl)
        self.replies = ReplyInbox(nc)  # settle answers come back here from whichever worker took it
        self.replicas = ReplicaCensus(nc, config.supported_ttl)
        # (payTo, network) -> registered? Set when only registered receivers may be paid.
        self.payto_check: Callable[[str, str], Awaitable[bool]] | None = None

    async def start(self) -> None:
        await self.replies.start()

    async def stop(self) -> None:
        await self.replies.stop()

    async def check_ip_limit(self, kind: str, client_ip: str) -> None:
        """Per client IP and endpoint, shared by every gateway replica through one counter."""
        limit = self.config.ip_limit_per_minute
        if limit <= 0:  # off: not even the counter key is built
            return
        refusal = f"more than {limit} {kind} requests per minute from {client_ip}"
        await per_minute_limit(self.js, f"ip.{kind}", encode_key(client_ip), limit, refusal)

    async def verify(self, body: bytes, client_ip: str, api_key_id: str = "") -> Answer:
        return await self._handle("verify", body, client_ip, api_key_id=api_key_id)

    async def settle(
        self,
        body: bytes,
        client_ip: str,
        hung_up: Callable[[], Awaitable[object]] | None = None,
        api_key_id: str = "",
    ) -> Answer:
        """`hung_up` completes when the HTTP client goes away: the worker is told to stop waiting."""
        return await self._handle("settle", body, client_ip, hung_up, api_key_id)

    async def _handle(
        self,
        kind: str,
        body: bytes,
        client_ip: str,
        hung_up: Callable[[], Awaitable[object]] | None = None,
        api_key_id: str = "",
    ) -> Answer:
        if len(body) > self.config.max_body_bytes:
            raise GatewayError(413, "body_too_large", f"body over {self.config.max_body_bytes} bytes")
        try:
            request = decode_request(body)
        except BodyError as exc:
            raise GatewayError(400, "invalid_request", str(exc)) from None
        network = request.payment_requirements.network
        family = family_of(network)
        if family is None:
            await self.check_ip_limit(kind, client_ip)
            return self._unsupported(kind, network)
        # 503 at once when the family's lane is full, before any work on the bus
        with self.admission.admit(f"{kind}:{family}"):
            return await self._admitted(kind, family, body, request, client_ip, hung_up, api_key_id)

    async def _admitted(
        self,
        kind: str,
        family: str,
        body: bytes,
        request: VerifyRequest,
        client_ip: str,
        hung_up: Callable[[], Awaitable[object]] | None,
        api_key_id: str,
    ) -> Answer:
        await self.check_ip_limit(kind, client_ip)
        network = request.payment_requirements.network
        pay_to = request.payment_requirements.pay_to
        if self.payto_check is not None and not await self.payto_check(pay_to, network):
            message = f"payTo {pay_to!r} is not registered with this facilitator for {network}"
            return self._refused(kind, network, Reason.ADDRESS_NOT_REGISTERED, message)
        try:
            identifier = payment_identifier(request)
        except InvalidIdentifier as exc:
            return self._refused(kind, network, Reason.INVALID_PAYMENT_IDENTIFIER, str(exc))
        key_header = {subjects.API_KEY_HEADER: api_key_id} if api_key_id else {}
        if kind == "settle" and identifier is not None:
            return await self._settle_once(identifier, family, body, request, hung_up, key_header)
        if kind == "settle":
            return await self._listing(
                request, await self._settle(family, body, request, hung_up, key_header)
            )
        return await self._forward(kind, family, body, request, key_header or None)

    async def _listing(self, request: VerifyRequest, answer: Answer) -> Answer:
        """A settle that carried the bazaar extension: list the resource if it was paid (or say why
        its info cannot be listed) in the answer's `extensions.bazaar`."""
        if answer.status != 200 or request.x402_version != 2 or bazaar_extension(request) is None:
            return answer
        response = _settle_decoder.decode(answer.body)
        outcome = (
            await list_settled(self.nc, request, response.payer, self.config.discovery_minimums)
            if response.success
            else invalid_info(request)
        )
        if outcome is None:
            return answer
        response.extensions = {**(response.extensions or {}), "bazaar": outcome}
        return Answer(_encode(response), answer.status, answer.headers)

    async def _settle_once(
        self,
        identifier: str,
        family: str,
        body: bytes,
        request: VerifyRequest,
        hung_up: Callable[[], Awaitable[object]] | None,
        headers: dict[str, str],
    ) -> Answer:
        """A settle with a payment identifier (payment_ids): the stored success for the same id and
        payment, a conflict for another payment, else settle it and keep a success for replays."""
        network = request.payment_requirements.network
        digest = payment_digest(request)
        request_id = uuid.uuid4().hex
        deadline = self._settle_deadline()
        # The id is its payer's: the worker authenticates the payer before the ledger is asked.
        verdict = _verify_decoder.decode((await self._forward("verify", family, body, request)).body)
        payer = verdict.payer or ""
        if not verdict.is_valid:
            stored = await self._claim(payer, identifier, digest, request_id, deadline, peek=True)
            if stored.status is PaymentIdStatus.REPLAY and stored.response is not None:
                return Answer(_encode(stored.response))  # settled before: it no longer verifies
            reason = verdict.invalid_reason or Reason.INVALID_PAYLOAD
            return self._refused("settle", network, reason, verdict.invalid_message or "")
        delay = 0.02
        while True:
            held = await self._claim(payer, identifier, digest, request_id, deadline)
            if held.status is PaymentIdStatus.REPLAY and held.response is not None:
                return Answer(_encode(held.response))
            if held.status is PaymentIdStatus.CONFLICT:
                message = f"payment identifier {identifier!r} was already used with a different payment"
                return self._refused("settle", network, Reason.PAYMENT_IDENTIFIER_CONFLICT, message)
            if held.status is PaymentIdStatus.NEW:
                break
            if time.time() >= deadline:
                message = "another request is settling this payment identifier; retry for its outcome"
                raise GatewayError(503, "worker_timeout", message, 2)
            delay = await payment_ids.wait_a_little(delay, deadline)
        answer: Answer | None = None
        try:
            answer = await self._settle(family, body, request, hung_up, headers, request_id)
            answer = await self._listing(request, answer)
        finally:
            response = (
                _settle_decoder.decode(answer.body) if answer is not None and answer.status == 200 else None
            )
            await payment_ids.finish(self.nc, payer, identifier, digest, request_id, response)
        return answer

    async def _claim(
        self, payer: str, identifier: str, digest: str, request_id: str, deadline: float, peek: bool = False
    ) -> PaymentIdReply:
        try:
            return await payment_ids.claim(self.nc, payer, identifier, digest, request_id, deadline, peek)
        except BusError:
            raise GatewayError(503, "ledger_unavailable", "the ledger did not answer; retry", 2) from None

    def _settle_deadline(self) -> float:
        timeout = self.config.settle_timeout
        return time.time() + max(timeout - DEADLINE_MARGIN_SECONDS, timeout / 2)

    async def _settle(
        self,
        family: str,
        body: bytes,
        request: VerifyRequest,
        hung_up: Callable[[], Awaitable[object]] | None,
        extra_headers: dict[str, str] | None = None,
        request_id: str = "",
    ) -> Answer:
        """Forward with this request's id and deadline; if the caller stops waiting (timeout, hang-up),
        tell the worker, so the payment's one success is kept for a retry instead of lost."""
        if not await self.supported.is_live(family):
            raise GatewayError(503, "worker_unavailable", f"no {family} worker is running", retry_after=5)
        request_id = request_id or uuid.uuid4().hex
        deadline = self._settle_deadline()
        headers = {subjects.REQUEST_ID_HEADER: request_id, subjects.DEADLINE_HEADER: f"{deadline:.3f}"}
        headers.update(extra_headers or {})
        forward = asyncio.ensure_future(self._forward("settle", family, body, request, headers, request_id))
        watch = asyncio.ensure_future(hung_up()) if hung_up is not None else None
        try:
            await asyncio.wait({forward, watch} if watch else {forward}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if watch is not None:
                watch.cancel()
        if forward.done():
            try:
                return forward.result()
            except GatewayError as error:
                if error.error == "worker_timeout":
                    await self._detach(family, request_id)
                raise
        forward.cancel()
        await self._detach(family, request_id)
        raise GatewayError(499, "client_closed_request", "the client closed the connection")

    async def _detach(self, family: str, request_id: str) -> None:
        try:
            await self.nc.publish(subjects.detach(family), request_id.encode())
        except Exception as exc:
            log.warning("could not tell the %s workers that %s stopped waiting: %s", family, request_id, exc)

    async def _forward(
        self,
        kind: str,
        family: str,
        body: bytes,
        request: VerifyRequest,
        headers: dict[str, str] | None = None,
        request_id: str = "",
    ) -> Answer:
        # v2 bodies travel as received (already validated); v1 bodies as their v2 conversion.
        payload = body if request.x402_version == 2 else _encode(request)
        subject = subjects.verify(family) if kind == "verify" else subjects.settle(family)
        timeout = self.config.verify_timeout if kind == "verify" else self.config.settle_timeout
        try:
            if kind == "settle":  # work that outlives the worker taking it (x402fac.bus.workqueue)
                reply = await self.replies.request(subject, payload, headers or {}, request_id, timeout)
            else:
                reply = await request_raw(self.nc, subject, payload, timeout, headers)
        except Unavailable:
            raise GatewayError(
                503, "worker_unavailable", f"no {family} worker is running", retry_after=5
            ) from None
        except BusTimeout:
            # For a settle the outcome is unknown (no transaction to name, so not "pending"): the
            # ledger keeps whatever happened, and the same settle retried gets the outcome.
            message = (
                f"the {family} worker did not answer in time; retry the same settle for the outcome"
                if kind == "settle"
                else f"the {family} worker did not answer in time"
            )
            raise GatewayError(503, "worker_timeout", message, 2) from None
        except RemoteError as exc:
            log.error("worker %s failed: %s", subject, exc)
            raise GatewayError(
                500, "internal_error", "the worker failed; nothing was settled by this call"
            ) from None
        if kind == "settle" and request.x402_version == 1:
            reply = _encode(settle_response_for_version(_settle_decoder.decode(reply), 1))
        return Answer(reply)

    @classmethod
    def _unsupported(cls, kind: str, network: str) -> Answer:
        message = f"network {network!r} is not supported by this facilitator"
        return cls._refused(kind, network, Reason.UNSUPPORTED_NETWORK, message)

    @staticmethod
    def _refused(kind: str, network: str, reason: Reason, message: str) -> Answer:
        """A business refusal the gateway can give without a worker (HTTP 200, as clients expect)."""
        if kind == "verify":
            response = VerifyResponse(is_valid=False, invalid_reason=reason, invalid_message=message)
        else:
            response = SettleResponse(
                success=False,
                transaction="",
                network=network,
                error_reason=reason,
                error_message=message,
            )
        return Answer(_encode(response))
