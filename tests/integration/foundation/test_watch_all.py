"""A bucket watched without nats-py's flow-control poll: every entry arrives, the initial ones then
the end-of-initial marker, and flow control is answered as requests arrive (a request left unanswered
would stall the delivery of a large burst)."""

import asyncio

from x402fac.bus import EmbeddedNats, connect, ensure_bucket, free_port, watch_all

BURST = 3000
VALUE = b"v" * 2048  # enough bytes for the server to ask for flow control several times


async def test_every_entry_arrives_and_flow_control_is_answered_without_a_poll(tmp_path):
    server = EmbeddedNats(tmp_path, port=free_port())
    await server.start()
    nc = await connect(server.url, name="test-watch-all", credentials=server.credentials("ledger"))
    answered: list[str] = []
    publish = nc.publish

    async def spied(subject: str, *args, **kwargs) -> None:
        if subject.startswith("$JS.FC."):
            answered.append(subject)
        await publish(subject, *args, **kwargs)

    nc.publish = spied  # type: ignore[method-assign]
    try:
        kv = await ensure_bucket(nc.jetstream(), "x402fac_test_watch")
        for i in range(3):
            await kv.put(f"before.{i}", b"x")
        watcher = await watch_all(kv)
        await asyncio.sleep(0)
        assert watcher._sub._sub._jsi._fctask.done()  # no task waking four times a second

        initial = []
        while (entry := await watcher.updates(timeout=10)) is not None:
            initial.append(entry.key)
        assert sorted(initial) == ["before.0", "before.1", "before.2"]

        seen: set[str] = set()

        async def follow() -> None:
            while len(seen) < BURST + 1:
                entry = await watcher.updates(timeout=30)  # a guard against a stall, not a timing check
                if entry is not None:
                    seen.add(entry.key)

        following = asyncio.create_task(follow())
        for i in range(BURST):
            await kv.put(f"burst.{i}", VALUE)
        await kv.delete("before.0")
        await asyncio.wait_for(following, 120)  # every entry came: nothing stalled
        assert seen == {f"burst.{i}" for i in range(BURST)} | {"before.0"}
        assert answered  # the server asked for flow control, and was answered
        await watcher.stop()
    finally:
        await nc.close()
        server.stop()
