"""Wiring a family's schemes to NATS: verify/supported endpoints, settle work, the reconciler loop.

Verify is plain request/reply. Settle requests arrive through the work-queue stream (x402fac.bus
.workqueue): a settle outlives the replica that took it, because another replica gets it again when
the first never acknowledges it, and the ledger makes that second attempt resume the first.
"""

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import Mapping

import msgspec
from nats.aio.client import Client

from x402fac.bus import (
    DELIVERY_HEADER,
    NO_REPLY,
    REPLY_HEADER,
    Answered,
    BusError,
    HandOff,
    ServiceRunner,
    WorkConsumer,
    answer_confirmed,
    cancel_and_wait,
    connect,
    disconnect,
    subjects,
)
from x402fac.protocol import (
    Reason,
    SettleResponse,
    SupportedResponse,
    VerifyRequest,
    VerifyResponse,
    merge_supported,
    with_legacy,
)
from x402fac.settings import PipelineSettings, load
from x402fac.telemetry import NATS_CONNECTED, WORKER_INFLIGHT, WORKER_SETTLES, WORKER_UP, freeze_startup

from .pipeline import LET_GO_SECONDS, Pipeline
from .requester import DEFAULT_WAIT_SECONDS, DetachedRequests, Requester
from .scheme import Scheme
from .settle_states import Superseded

log = logging.getLogger(__name__)
VERSION = "0.1.0"
GATE_INTERVAL_SECONDS = 1.0  # how often a replica checks whether it can take settle work
# A draining replica waits for its settles in flight until their callers stop waiting (each answers
# by its deadline), at least SETTLE_GRACE_SECONDS (a settle just taken has no deadline read yet), at
# most MAX_SETTLE_GRACE_SECONDS; what is left then goes to another replica (work-queue redelivery).
SETTLE_GRACE_SECONDS = 10.0
MAX_SETTLE_GRACE_SECONDS = 60.0
# Hang-ups of requests no replica holds yet, remembered until any such request is past its deadline.
DETACHED_KEPT = 200_000
_request_decoder = msgspec.json.Decoder(VerifyRequest)
_encode = msgspec.json.encode


def supported_of(schemes: list[Scheme]) -> SupportedResponse:
    """This worker's answer to `supported`: its schemes' parts, each v2 kind with its v1 twin."""
    merged = merge_supported(scheme.supported() for scheme in schemes)
    merged.kinds = with_legacy(merged.kinds)
    return merged


class WorkerService:
    """One family's worker: `x402.<family>.verify|supported` in queue group `x402.<family>`, settle
    work from the `settle-<family>` queue consumer."""

    def __init__(
        self, nc: Client, family: str, schemes: list[Scheme], settle_ack_wait: float | None = None
    ) -> None:
        self.nc = nc
        self.family = family
        self.pipeline = Pipeline(nc, family, schemes)
        self.supported = _encode(supported_of(schemes))
        self.runner = ServiceRunner(nc, f"x402fac-{family}", VERSION, subjects.queue_group(family))
        ack_wait = settle_ack_wait or load(PipelineSettings).settle_ack_wait
        self.settle_work = WorkConsumer(
            nc,
            f"x402fac-{family}.settle",
            subjects.WORK_STREAM,
            subjects.settle(family),
            subjects.settle_group(family),
            self._settle,
            ack_wait=ack_wait,
        )
        self.replica = f"{family}-{socket.gethostname()}-{uuid.uuid4().hex[:6]}"
        self.settling = False  # taking settle work now
        self._reconciler: asyncio.Task | None = None
        self._gate: asyncio.Task | None = None
        self._requesters: dict[str, Requester] = {}  # settle requests in flight here, by request id
        self.detached = DetachedRequests(subjects.WORK_DUPLICATE_WINDOW_SECONDS, DETACHED_KEPT)
        self._subs: list = []

    async def start(self, reconcile_interval: float | None = None) -> None:
        for scheme in self.pipeline.schemes:
            await scheme.start(self.nc, self.replica)
        await self.runner.start(
            {
                "verify": (subjects.verify(self.family), self._verify),
                "supported": (subjects.supported(self.family), self._supported),
            }
        )
        try:
            await self._open_or_close_settles()
        except Exception as exc:  # JetStream slow to answer (a node restarting): the gate tries again
            log.warning("settle work not opened yet: %s", exc)
        self._gate = asyncio.create_task(self._gate_forever())
        # Not in the queue group: every replica hears these.
        self._subs = [
            await self.nc.subscribe(subjects.detach(self.family), cb=self._on_detach),
            await self.nc.subscribe(subjects.status(self.family), cb=self._on_status),
        ]
        interval = reconcile_interval or load(PipelineSettings).reconcile_interval
        self._reconciler = asyncio.create_task(self._reconcile_forever(interval))

    async def _open_or_close_settles(self) -> None:
        """Take settle work only while some scheme can settle (an EVM replica needs a signer key)."""
        ready = any(scheme.can_settle() for scheme in self.pipeline.schemes)
        if ready and not self.settling:
            await self.settle_work.start()
        elif not ready and self.settling:
            log.warning("%s holds no signer key: verify only until it gets one", self.replica)
            await self.settle_work.stop(grace=0)
        self.settling = ready
        WORKER_SETTLES.labels(self.family).set(1 if ready else 0)

    async def _gate_forever(self) -> None:
        """Until the settle work is open and no scheme's readiness can change (no signer lease): then
        there is nothing left to watch, and the replica stops waking for it."""
        varies = any(scheme.settle_readiness_varies for scheme in self.pipeline.schemes)
        while varies or not self.settling:
            await asyncio.sleep(GATE_INTERVAL_SECONDS)
            try:
                await self._open_or_close_settles()
            except Exception as exc:  # NATS away: try again next time
                log.warning("settle gate: %s", exc)

    def status(self) -> dict:
        merged: dict = {"replica": self.replica, "family": self.family, "settles": self.settling}
        for scheme in self.pipeline.schemes:
            merged.update(scheme.status())
        return merged

    async def _on_status(self, msg) -> None:
        if msg.reply:
            await self.nc.publish(msg.reply, _encode(self.status()))

    async def stop(self) -> None:
        for task in (self._reconciler, self._gate):
            await cancel_and_wait(task)
        # In-flight settles finish; queued ones go to other replicas.
        await self.settle_work.stop(grace=self._settle_grace())
        self.settling = False
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        await self.runner.stop()
        await self.pipeline.verify_audit.close()  # after the verifies in flight have answered
        for scheme in self.pipeline.schemes:
            await scheme.stop()

    def _settle_grace(self) -> float:
        now = time.time()
        latest = max((requester.deadline for requester in self._requesters.values()), default=now)
        return min(max(SETTLE_GRACE_SECONDS, latest - now + 1.0), MAX_SETTLE_GRACE_SECONDS)

    async def _verify(self, data: bytes, headers: Mapping[str, str]) -> bytes:
        try:
            request = _request_decoder.decode(data)
        except msgspec.MsgspecError as exc:
            return _encode(
                VerifyResponse(
                    is_valid=False, invalid_reason=Reason.INVALID_PAYLOAD, invalid_message=str(exc)
                )
            )
        return _encode(await self.pipeline.verify(request, headers.get(subjects.API_KEY_HEADER, "")))

    async def _settle(self, data: bytes, headers: Mapping[str, str]) -> bytes | None:
        try:
            request = _request_decoder.decode(data)
        except msgspec.MsgspecError as exc:
            return _encode(
                SettleResponse(
                    success=False,
                    transaction="",
                    network="",
                    error_reason=Reason.INVALID_PAYLOAD,
                    error_message=str(exc),
                )
            )
        requester = _requester_of(headers)
        if requester.deadline < time.time() or requester.id in self.detached:
            # Its caller stopped waiting: nothing to do, unless an earlier attempt died holding its success.
            if headers.get(DELIVERY_HEADER, "1") != "1" and headers.get(REPLY_HEADER):
                await self._resume_late(request, requester, headers[REPLY_HEADER])
            return NO_REPLY
        if not any(scheme.can_settle() for scheme in self.pipeline.schemes):
            # e.g. this replica's signer lease lapsed since it took the request
            raise HandOff("no scheme here can settle now")
        self._requesters[requester.id] = requester
        try:
            response = await self.pipeline.settle(request, requester)
            reply_to = headers.get(REPLY_HEADER)
            if not reply_to:
                return _encode(response)
            await self._answer(requester, reply_to, response)
            return NO_REPLY  # answered here
        except Superseded:
            return NO_REPLY
        finally:
            self._requesters.pop(requester.id, None)

    async def _answer(self, requester: Requester, reply_to: str, response: SettleResponse) -> None:
        """Answer the gateway; then, unless the request has its success, make sure it holds its payment
        no more: a success that never reached it, or an answer sent before the ledger confirmed the
        request let the payment go. The work item is acknowledged only once the ledger confirmed (if
        this process dies first, the attempt that takes the item next does it)."""
        if not response.success:
            # Nothing rides on whether it is taken: the request lets its payment go below either way
            # (confirmed already, as a rule, before the answer: Pipeline.settle), so no confirmation.
            await self.nc.publish(reply_to, _encode(response))
        elif await answer_confirmed(self.nc, reply_to, _encode(response), True) in (
            Answered.TAKEN,
            Answered.SUCCEEDED,
        ):
            return  # the request has its success (an earlier attempt's, if SUCCEEDED): it stands
        until = max(requester.deadline, time.time()) + LET_GO_SECONDS
        if not await self.pipeline.let_go(requester, until):
            raise BusError(f"the ledger did not confirm that {requester.id} let its payment go")

    async def _resume_late(self, request: VerifyRequest, requester: Requester, reply_to: str) -> None:
        """A work item taken again after its request's deadline: an earlier attempt may have died with
        the success handed to it, undelivered (the gateway answered its caller worker_timeout), or
        delivered (the gateway remembers it took it). The success is offered again, and let go unless
        the gateway took a success for the request."""
        success = await self.pipeline.carry_late(request, requester)
        if success is not None:
            await self._answer(requester, reply_to, success)

    async def _on_detach(self, msg) -> None:
        request_id = msg.data.decode(errors="replace")
        requester = self._requesters.get(request_id)
        if requester is not None:
            await self.pipeline.detach(requester)
        else:  # still queued, or with another replica: whoever takes it later leaves it be
            self.detached.remember(request_id)

    async def _supported(self, _data: bytes, _headers: Mapping[str, str]) -> bytes:
        return self.supported

    async def _reconcile_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                moved = await self.pipeline.reconcile_once()
                if moved:
                    log.info("reconciled %d pending settlements", moved)
            except Exception as exc:  # the loop must outlive a ledger restart
                log.warning("reconcile pass failed: %s", exc)


def _requester_of(headers: Mapping[str, str]) -> Requester:
    """The gateway's request id and deadline; a caller without them waits the default time."""
    request_id = headers.get(subjects.REQUEST_ID_HEADER, "")
    try:
        deadline = float(headers.get(subjects.DEADLINE_HEADER, ""))
    except ValueError:
        deadline = 0.0
    return Requester(
        request_id or uuid.uuid4().hex,
        deadline if deadline > 0 else time.time() + DEFAULT_WAIT_SECONDS,
        api_key_id=headers.get(subjects.API_KEY_HEADER, ""),
    )


async def run_worker(
    family: str, schemes: list[Scheme], nats_url: str | None = None, stop: asyncio.Event | None = None
) -> None:
    """Serve until `stop` is set; in-flight settles finish before the connection drains."""
    nc = await connect(nats_url, name=f"x402fac-{family}")
    service = WorkerService(nc, family, schemes)
    NATS_CONNECTED.labels(f"worker-{family}").set_function(lambda: float(nc.is_connected))
    WORKER_INFLIGHT.labels(family).set_function(
        lambda: service.runner.inflight + service.settle_work.inflight
    )
    await service.start()
    freeze_startup()
    WORKER_UP.labels(family).set(1)
    log.info("%s worker ready: %s", family, sorted({n for s in schemes for n in s.networks()}))
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        WORKER_UP.labels(family).set(0)
        await service.stop()
        await disconnect(nc)
        for scheme in schemes:
            await scheme.close()
