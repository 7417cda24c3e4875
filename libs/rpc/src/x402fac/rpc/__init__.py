"""HTTP plumbing every chain client shares: JSON POSTs with failover between a network's nodes, and a
watcher that waits for many transactions with one batched poll per tick."""

import asyncio
import itertools
import logging
import time
from abc import ABC, abstractmethod
from typing import Any
from urllib.parse import urlsplit

import msgspec

from x402fac.bus import cancel_and_wait
from x402fac.telemetry import RpcMetrics, client_span, tracer

from .http import ConnectFailed, HttpFailure, HttpNode

log = logging.getLogger(__name__)

_tracer = tracer("x402fac.rpc")
# A node that failed at transport level is tried last for this long.
COOLDOWN_SECONDS = 5.0
_encode = msgspec.json.encode
_decode = msgspec.json.decode
# Read batches asked in the same event-loop tick travel in one HTTP request of at most this many calls.
MAX_CALLS_PER_REQUEST = 100


class NodeUnavailable(Exception):
    """No node answered. `maybe_delivered` is False only if no request can have reached a node."""

    def __init__(self, message: str, maybe_delivered: bool = True) -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered


def redact_url(url: str) -> str:
    """scheme://host[:port] of a node URL: hosted providers put API keys in the path, the query or
    the userinfo, so nothing else of an RPC URL may appear in an answer, a log line or a metric."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}" if parts.scheme and host else "<rpc url>"


def _describe(exc: BaseException) -> str:
    """What went wrong (the texts of .http never hold the URL)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectFailed):
        return "connection refused or unreachable"
    text = str(exc)
    if isinstance(exc, HttpFailure):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Endpoint:
    def __init__(self, url: str, max_connections: int) -> None:
        self.url = url
        self.label = redact_url(url)  # the only form of the URL that ever leaves this object
        self.down_until = 0.0
        self.node = HttpNode(url, max_connections)
        self.metrics = RpcMetrics(url)


class FailoverHttp:
    """POSTs JSON to the first healthy URL; a transport failure (or 5xx/429) moves on to the next."""

    def __init__(
        self, urls: list[str] | tuple[str, ...], timeout: float = 10.0, max_connections: int = 64
    ) -> None:
        if not urls:
            raise ValueError("at least one RPC URL is required")
        self.endpoints = [_Endpoint(url, max_connections) for url in urls]
        self.timeout = timeout

    async def close(self) -> None:
        for endpoint in self.endpoints:
            endpoint.node.close()

    def _order(self) -> list[_Endpoint]:
        now = time.monotonic()
        healthy = [e for e in self.endpoints if e.down_until <= now]
        return healthy + [e for e in self.endpoints if e.down_until > now]

    async def _post(self, endpoint: "_Endpoint", body: Any) -> Any:
        return _decode(await endpoint.node.post(_encode(body), self.timeout))

    async def post_json(self, body: Any, what: str = "request") -> Any:
        maybe_delivered = False
        errors = []
        for endpoint in self._order():
            started = time.perf_counter()
            try:
                # exception texts may hold the full URL: the span keeps the type only (no secrets)
                with client_span(_tracer, f"rpc {what}", False, **{"server.address": endpoint.label}):
                    reply = await self._post(endpoint, body)
            except (HttpFailure, TimeoutError, ValueError) as exc:
                endpoint.metrics.observe(time.perf_counter() - started, failed=True)
                # A refused connection never reached the node; anything later might have.
                if not isinstance(exc, ConnectFailed):
                    maybe_delivered = True
                endpoint.down_until = time.monotonic() + COOLDOWN_SECONDS
                errors.append(f"{endpoint.label}: {_describe(exc)}")
                if len(self.endpoints) > 1:  # with one URL the NodeUnavailable below says it all
                    log.warning("node failed, failing over: %s", errors[-1])
                continue
            endpoint.metrics.observe(time.perf_counter() - started, failed=False)
            endpoint.down_until = 0.0
            return reply
        raise NodeUnavailable(f"no node answered {what}: " + "; ".join(errors), maybe_delivered)


class BatchWatcher(ABC):
    """Waits for many ids at once: one `fetch` of every id being waited on per tick."""

    def __init__(
        self, interval: float, max_batch: int, first_poll: float = 0.005, min_gap: float = 0.02
    ) -> None:
        self.interval = interval
        self.max_batch = max_batch
        # A new id is looked up after `first_poll`, then at doubling delays up to `interval`: a fast
        # chain (automine, a quick Nano confirmation) must not cost a whole interval of waiting.
        self.first_poll = min(first_poll, interval)
        self.min_gap = min(min_gap, interval)
        self._last_poll = 0.0
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self._task: asyncio.Task | None = None
        self._arrived = asyncio.Event()
        self._delay = self.first_poll

    @abstractmethod
    async def fetch(self, ids: list[str]) -> dict[str, Any]:
        """The results of the ids that are done (others are left out); raise to skip this tick."""

    async def wait(self, id_: str, timeout: float) -> Any | None:
        """The id's result, or None if it is not done within `timeout` seconds."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(id_, []).append(future)
        self._arrived.set()
        if self._task is None or self._task.done():
            self._delay = self.first_poll  # a new poller backs off afresh
            self._task = asyncio.create_task(self._poll())
        # A timer bounds the wait (`asyncio.wait_for` costs a waiter and a loop turn more per id)
        timer = asyncio.get_running_loop().call_later(timeout, _time_out, future)
        try:
            return await future
        except TimeoutError:
            return None
        finally:
            timer.cancel()
            waiters = self._waiters.get(id_)
            if waiters is not None and future in waiters:
                waiters.remove(future)
                if not waiters:
                    del self._waiters[id_]

    async def _poll(self) -> None:
        while self._waiters:
            self._arrived.clear()
            self._last_poll = time.monotonic()
            ids = list(self._waiters)
            for start in range(0, len(ids), self.max_batch):
                try:
                    done = await self.fetch(ids[start : start + self.max_batch])
                except Exception as exc:
                    log.warning("%s poll failed: %s", type(self).__name__, exc)
                    break
                for id_, result in done.items():
                    for future in self._waiters.pop(id_, []):
                        if not future.done():
                            future.set_result(result)
            if not self._waiters:
                # Done, not ticking on: the next id starts a poller that looks at once (one waiting
                # out this one's tick would be seen `first_poll` + `min_gap` late).
                return
            await self._next_tick()

    async def _next_tick(self) -> None:
        """Back off from `first_poll` to `interval`; a newly arrived id starts the back-off again.

        A poll an arrival brings stays at least `min_gap` after the last one, so a stream of arrivals
        cannot flood the node; the back-off's own polls do not wait for it (a lone id is looked at
        again `first_poll` after a first look that came too early, not `min_gap`).
        """
        if self._arrived.is_set():
            self._delay = self.first_poll
        try:
            await asyncio.wait_for(self._arrived.wait(), self._delay)
        except TimeoutError:
            self._delay = min(self._delay * 2, self.interval)
            return
        self._delay = self.first_poll
        await asyncio.sleep(self.first_poll)
        since = time.monotonic() - self._last_poll
        if since < self.min_gap:
            await asyncio.sleep(self.min_gap - since)

    async def close(self) -> None:
        await cancel_and_wait(self._task)


def _time_out(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class RpcError(Exception):
    """A node answered with a JSON-RPC error (the request reached it; this is not a transport fault)."""

    missing_reply = False  # the node's batch reply left this call out: it says nothing of the call

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        self.method = method
        self.code = error.get("code")
        self.message = str(error.get("message", ""))
        self.data = error.get("data")
        super().__init__(f"{method}: {self.message}")


class JsonRpcClient:
    """JSON-RPC 2.0 over FailoverHttp: single calls and batches. `error_type` lets a chain add detail.

    The batches of concurrent requests (verifies arriving together, receipt polls, nonce reads) asked
    in the same event-loop tick share one HTTP request — at concurrency one nothing waits, under load
    the node and this process handle one request for many. `batch` is for reads (a failed call is an
    error object among the results); `write` sends one write (`eth_sendRawTransaction`) in the same
    shared request, with its own answer: its result, its own error raised, or, when the request's
    delivery is unknown or the node's reply left the call out, NodeUnavailable that says it may have
    been delivered, as for a write sent alone."""

    error_type: type[RpcError] = RpcError

    def __init__(
        self, urls: list[str] | tuple[str, ...], timeout: float = 10.0, max_connections: int = 64
    ) -> None:
        self.http = FailoverHttp(urls, timeout, max_connections)
        self._ids = itertools.count(1)
        self._queued: list[tuple[list[tuple[str, list[Any]]], asyncio.Future]] = []
        self._queue_loop: asyncio.AbstractEventLoop | None = None
        self._sending: set[asyncio.Task] = set()

    async def close(self) -> None:
        for task in list(self._sending):
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)
        await self.http.close()

    async def reply(self, method: str, *params: Any) -> dict[str, Any]:
        """The whole reply object, `error` included (for callers that check a node's exact answers)."""
        reply = await self.http.post_json(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}, method
        )
        if not isinstance(reply, dict):
            raise NodeUnavailable(f"{method}: malformed JSON-RPC reply")
        return reply

    async def call(self, method: str, *params: Any) -> Any:
        reply = await self.reply(method, *params)
        if reply.get("error") is not None:
            raise self.error_type(method, reply["error"])
        return reply.get("result")

    async def write(self, method: str, *params: Any) -> Any:
        """One write sharing the request of the calls asked in this event-loop tick (see the class);
        sent by a task of its own, which a caller that stops waiting does not interrupt."""
        future = self._enqueue([(method, list(params))])
        if len(self._queued) == 1:
            asyncio.get_running_loop().call_soon(self._send_queued)
        (result,) = await future
        if isinstance(result, RpcError):
            if result.missing_reply:
                raise NodeUnavailable(f"{method}: missing from the node's batch reply", maybe_delivered=True)
            raise result
        return result

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Results of read-only calls in call order; a call that failed yields its error object.

        The first reads of an event-loop tick wait one turn for the others of the tick; still alone
        then, they are sent from the caller's own task (no task of their own, no hand-back of the
        results: one verify at a time), else all of the tick go out together."""
        if not calls:
            return []
        future = self._enqueue(calls)
        if len(self._queued) > 1:
            return await future  # the first of this tick sends it
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            self._queued.remove((calls, future))
            if self._queued:  # the others of the tick go out without this one
                self._send_queued()
            raise
        if len(self._queued) > 1:
            self._send_queued()
            return await future
        self._queued = []
        return await self._post_batch(calls)

    def _enqueue(self, calls: list[tuple[str, list[Any]]]) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        if self._queue_loop is not loop:  # a loop that ended with reads queued must not strand this one
            self._queued, self._queue_loop = [], loop
        future: asyncio.Future = loop.create_future()
        self._queued.append((calls, future))
        return future

    def _send_queued(self) -> None:
        queued, self._queued = self._queued, []
        group: list[tuple[list[tuple[str, list[Any]]], asyncio.Future]] = []
        size = 0
        for item in queued:
            if group and size + len(item[0]) > MAX_CALLS_PER_REQUEST:
                self._spawn(group)
                group, size = [], 0
            group.append(item)
            size += len(item[0])
        self._spawn(group)

    def _spawn(self, group: list[tuple[list[tuple[str, list[Any]]], asyncio.Future]]) -> None:
        task = asyncio.ensure_future(self._send(group))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, group: list[tuple[list[tuple[str, list[Any]]], asyncio.Future]]) -> None:
        try:
            results = await self._post_batch([call for calls, _ in group for call in calls])
        except BaseException as exc:  # every caller of the request learns why (cancelled: closing)
            for _, future in group:
                if not future.done():
                    future.set_exception(_copy(exc))
            if not isinstance(exc, Exception):
                raise
            return
        start = 0
        for calls, future in group:
            if not future.done():  # a caller that stopped waiting is skipped
                future.set_result(results[start : start + len(calls)])
            start += len(calls)

    async def _post_batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        ids = [next(self._ids) for _ in calls]
        body = [
            {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}
            for id_, (method, params) in zip(ids, calls, strict=True)
        ]
        replies = await self.http.post_json(body, "batch")
        if not isinstance(replies, list):
            raise NodeUnavailable("batch: malformed JSON-RPC reply")
        by_id = {reply.get("id"): reply for reply in replies if isinstance(reply, dict)}
        results: list[Any] = []
        for id_, (method, _) in zip(ids, calls, strict=True):
            reply = by_id.get(id_)
            if reply is None:
                missing = self.error_type(method, {"code": -32603, "message": "missing from batch reply"})
                missing.missing_reply = True
                results.append(missing)
            elif reply.get("error") is not None:
                results.append(self.error_type(method, reply["error"]))
            else:
                results.append(reply.get("result"))
        return results


def _copy(exc: BaseException) -> BaseException:
    """A failure of a shared request, as each of its callers' own exception (tracebacks differ)."""
    if isinstance(exc, NodeUnavailable):
        return NodeUnavailable(str(exc), exc.maybe_delivered)
    if isinstance(exc, asyncio.CancelledError):
        return NodeUnavailable("batch: the client was closed", maybe_delivered=True)
    return exc
