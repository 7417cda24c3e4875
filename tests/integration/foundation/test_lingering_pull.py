"""A durable pull consumer read through one lingering request: entries trickling in are each handled
once as they arrive, with no request per entry; a batch used up asks again at once; an entry its
handler does not acknowledge comes again; and two readers of one consumer share its entries. A
gathering reader takes a trickle in groups, a backlog at once, and lingers while nothing comes."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from tests.fixtures.polling import until
from x402fac.bus import EmbeddedNats, LingeringPull, connect, free_port


@contextlib.asynccontextmanager
async def _consumer(tmp_path, ack_wait: float = 30.0):
    """A real nats-server with the audit stream and its durable consumer; yields the ledger's
    connection, the JetStream context entries are published through (a worker's, as audit entries
    are) and a list the test puts its readers in (stopped at the end)."""
    server = EmbeddedNats(tmp_path, port=free_port())
    await server.start()
    nc = await connect(server.url, name="test-pull", credentials=server.credentials("ledger"))
    worker = await connect(server.url, name="test-audit", credentials=server.credentials("worker-evm"))
    pulls: list[LingeringPull] = []
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="X402FAC_AUDIT", subjects=["x402audit.>"]))
        await js.add_consumer(
            "X402FAC_AUDIT",
            ConsumerConfig(durable_name="usage", ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait),
        )
        yield nc, worker.jetstream(), pulls
    finally:
        for pull in pulls:
            await pull.stop()
        await worker.close()
        await nc.close()
        server.stop()


class Counting:
    """Counts the pull requests a client sends (its publishes to the consumer's next-message subject)."""

    def __init__(self, nc) -> None:
        self.requests = 0
        publish = nc.publish

        async def counted(subject: str, *args, **kwargs):
            if subject.startswith("$JS.API.CONSUMER.MSG.NEXT."):
                self.requests += 1
            return await publish(subject, *args, **kwargs)

        nc.publish = counted


def _acked() -> tuple[list[bytes], Callable[[Msg], Awaitable[None]]]:
    """What a handler that acknowledges each entry was given, and the handler."""
    handled: list[bytes] = []

    async def handle(msg: Msg) -> None:
        handled.append(msg.data)
        await msg.ack()

    return handled, handle


async def test_a_trickle_is_handled_entry_by_entry_through_one_request(tmp_path):
    handled, handle = _acked()

    async with _consumer(tmp_path) as (nc, js, pulls):
        counting = Counting(nc)
        pulls.append(LingeringPull(nc, "X402FAC_AUDIT", "usage", handle, batch=4, expires=30.0))
        await pulls[0].start()
        for n in range(3):  # fewer than a batch, one at a time
            await js.publish("x402audit.settle.evm", f"e{n}".encode())
            await until(lambda n=n: len(handled) == n + 1)
        assert counting.requests == 1  # one lingering request brought all three
        for n in range(3, 9):  # the batch of 4 is used up on the 4th and the 8th entry: asked again
            await js.publish("x402audit.settle.evm", f"e{n}".encode())
        await until(lambda: len(handled) == 9)
        await until(lambda: counting.requests == 3)
        assert sorted(handled) == sorted(f"e{n}".encode() for n in range(9))
        for _ in range(100):  # every entry acknowledged (the last acks may still be on their way)
            info = await nc.jetstream().consumer_info("X402FAC_AUDIT", "usage")
            if info.num_ack_pending == 0:
                break
            await asyncio.sleep(0.05)
        assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_an_expired_request_is_made_again_and_an_unacknowledged_entry_comes_again(tmp_path):
    seen: list[tuple[bytes, int]] = []

    async def handle(msg) -> None:
        seen.append((msg.data, msg.metadata.num_delivered))
        if msg.metadata.num_delivered > 1:  # the first delivery is left unacknowledged
            await msg.ack()

    async with _consumer(tmp_path, ack_wait=1.0) as (nc, js, pulls):
        counting = Counting(nc)
        pulls.append(LingeringPull(nc, "X402FAC_AUDIT", "usage", handle, batch=10, expires=0.5))
        await pulls[0].start()
        await until(lambda: counting.requests >= 3)  # idle: each expiry is followed by a new request
        await js.publish("x402audit.settle.evm", b"once")
        await until(lambda: len(seen) == 2)
        assert seen == [(b"once", 1), (b"once", 2)]
        await asyncio.sleep(1.5)  # acknowledged the second time: it comes no more
        assert len(seen) == 2


async def test_two_readers_share_the_entries_each_handled_once(tmp_path):
    handled: list[tuple[str, bytes]] = []

    def handler(name: str):
        async def handle(msg) -> None:
            handled.append((name, msg.data))
            await msg.ack()

        return handle

    async with _consumer(tmp_path) as (nc, js, pulls):
        pulls.extend(LingeringPull(nc, "X402FAC_AUDIT", "usage", handler(n), batch=3) for n in "ab")
        for pull in pulls:
            await pull.start()
        for n in range(40):
            await js.publish("x402audit.settle.evm", f"e{n}".encode())
        await until(lambda: len(handled) == 40)
        await asyncio.sleep(0.3)
        assert sorted(data for _, data in handled) == sorted(f"e{n}".encode() for n in range(40))


async def test_a_gathering_reader_takes_a_trickle_in_groups(tmp_path):
    handled, handle = _acked()

    async with _consumer(tmp_path) as (nc, js, pulls):
        counting = Counting(nc)
        pulls.append(LingeringPull(nc, "X402FAC_AUDIT", "usage", handle, batch=4, expires=30.0, gather=2.0))
        await pulls[0].start()
        await js.publish("x402audit.settle.evm", b"e0")
        await until(lambda: handled == [b"e0"])  # a lingering request brings the first one
        for n in (1, 2):  # a trickle while the reader gathers: one request takes both
            await js.publish("x402audit.settle.evm", f"e{n}".encode())
        await until(lambda: len(handled) == 3)
        assert counting.requests == 2
        assert sorted(handled) == [b"e0", b"e1", b"e2"]


async def test_a_gathering_reader_takes_a_backlog_batch_after_batch(tmp_path):
    handled, handle = _acked()

    async with _consumer(tmp_path) as (nc, js, pulls):
        for n in range(11):
            await js.publish("x402audit.settle.evm", f"e{n}".encode())
        counting = Counting(nc)
        # Gathering for longer than the wait below: a used-up batch is followed by a request at once.
        pulls.append(LingeringPull(nc, "X402FAC_AUDIT", "usage", handle, batch=4, expires=30.0, gather=60.0))
        await pulls[0].start()
        await until(lambda: len(handled) == 11)
        assert counting.requests == 3  # 4 + 4 + 3
        assert sorted(handled) == sorted(f"e{n}".encode() for n in range(11))
