"""A durable pull consumer read through one lingering pull request at a time.

nats-py's `fetch` asks twice whenever fewer entries wait than it asks for (a no-wait probe, answered
"no messages", then a lingering request) and returns only when its batch is full or its wait is over;
for a trickle of entries (one settle every second) that is two requests and two status messages per
entry. Here one request for up to `batch` entries stays open for `expires` seconds: each entry is
handled as it arrives, and a new request goes out once that one is used up or ends. At idle: one
request and its expiry every `expires` seconds.

Each entry is handed to `handle` (concurrently with the others), which acknowledges it; one it does
not acknowledge comes again after the consumer's ack wait, as with any pull consumer.

With `gather` seconds, entries that may wait (usage counts) are taken in groups: a request still
lingers while nothing comes, but ends once it has brought what is there (`no_wait` with `expires`),
and after a request that brought entries without using up its batch the next one goes out only
`gather` seconds later. Entries trickling in (one settle a second) then wake the reader, and the
server, once per `gather` seconds instead of once each; a backlog (a used-up batch) is asked for
again at once.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg

from .tasks import cancel_and_wait

log = logging.getLogger(__name__)
HEARTBEAT = "100"  # an idle heartbeat: the request is still open
EXPIRED = "408"  # the request ended by its `expires`
DRAINED = "404"  # a `no_wait` request brought what there was
PAUSE_SECONDS = 1.0  # after a request refused at once (no stream yet, no consumer, a leader election)
LOST_GRACE_SECONDS = 2.0  # a request whose end never arrived (a reconnect) is made again this much later


class LingeringPull:
    def __init__(
        self,
        nc: Client,
        stream: str,
        consumer: str,
        handle: Callable[[Msg], Awaitable[None]],
        batch: int = 200,
        expires: float = 30.0,
        gather: float = 0.0,
    ) -> None:
        self.nc = nc
        self.subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self.handle = handle
        self.batch = batch
        self.expires = expires
        self.gather = gather
        request: dict = {"batch": batch, "expires": int(expires * 1e9)}
        if gather:
            request["no_wait"] = True  # with `expires`: lingers until one entry, then brings what is there
        self._request = msgspec.json.encode(request)
        self._left = 0
        self._ended = asyncio.Event()
        self._refused = False
        self._handling: set[asyncio.Task] = set()
        self._sub = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(self.nc.new_inbox(), cb=self._on_message)
        self._task = asyncio.create_task(self._pull_forever(self._sub.subject))

    async def stop(self) -> None:
        """Ask for no more entries; let the ones in hand finish."""
        await cancel_and_wait(self._task)
        with contextlib.suppress(Exception):  # NATS away: the subscription is gone with it
            await self._sub.unsubscribe()  # type: ignore[union-attr]
        if self._handling:
            await asyncio.wait(set(self._handling), timeout=5.0)

    async def _pull_forever(self, inbox: str) -> None:
        while True:
            self._ended.clear()
            self._left, self._refused = self.batch, False
            try:
                await self.nc.publish(self.subject, self._request, reply=inbox)
            except Exception as exc:  # NATS away: ask again once it is back
                log.warning("pull from %s: %s", self.subject, exc)
                await asyncio.sleep(PAUSE_SECONDS)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ended.wait(), self.expires + LOST_GRACE_SECONDS)
            if self._refused:
                await asyncio.sleep(PAUSE_SECONDS)
            elif self.gather and 0 < self._left < self.batch:  # it brought all there was: let more come
                await asyncio.sleep(self.gather)

    async def _on_message(self, msg: Msg) -> None:
        status = msg.headers.get("Status") if msg.headers else None
        if status is not None:
            if status != HEARTBEAT:  # the request ended: expired, drained, or refused (409/503)
                self._refused = status not in (EXPIRED, DRAINED) if self.gather else status != EXPIRED
                self._ended.set()
            return
        self._left -= 1
        if self._left <= 0:
            self._ended.set()
        task = asyncio.create_task(self._handle(msg))
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _handle(self, msg: Msg) -> None:
        try:
            await self.handle(msg)
        except Exception:  # not acknowledged: it comes again after the ack wait
            log.exception("handling an entry of %s failed", self.subject)
