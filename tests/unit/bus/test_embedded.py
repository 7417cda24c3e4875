"""The embedded nats-server never outlives the process that started it, even one killed outright; it
runs on one Go thread unless GOMAXPROCS says otherwise, with a timer slack that spares it wake-ups."""

from pathlib import Path

from tests.fixtures.processes import child_ends_with_its_owner
from x402fac.bus import EmbeddedNats, free_port
from x402fac.bus.embedded import TIMER_SLACK_NS

OWNER = """
import asyncio, sys
from pathlib import Path
from x402fac.bus import EmbeddedNats, free_port

async def main():
    nats = EmbeddedNats(Path(sys.argv[1]), port=free_port())
    await nats.start()
    print(nats.process.pid, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def test_a_killed_owner_leaves_no_nats_server(tmp_path) -> None:
    assert child_ends_with_its_owner(OWNER, str(tmp_path), exe="nats-server")


async def _gomaxprocs(store: Path) -> str:
    """The GOMAXPROCS a server started now, in this environment, runs with."""
    nats = EmbeddedNats(store, port=free_port())
    await nats.start()
    try:
        raw = Path(f"/proc/{nats.process.pid}/environ").read_bytes()
    finally:
        nats.stop()
    environ = dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)
    return environ["GOMAXPROCS"]


async def test_the_server_runs_on_one_go_thread_unless_told_otherwise(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("GOMAXPROCS", raising=False)
    assert await _gomaxprocs(tmp_path / "one") == "1"
    monkeypatch.setenv("GOMAXPROCS", "2")  # the operator's choice is kept
    assert await _gomaxprocs(tmp_path / "two") == "2"


async def test_every_thread_of_the_server_has_the_timer_slack(tmp_path) -> None:
    nats = EmbeddedNats(tmp_path, port=free_port())
    await nats.start()
    try:
        threads = list(Path(f"/proc/{nats.process.pid}/task").iterdir())
        assert len(threads) > 1  # the Go runtime's threads, started after exec, inherit it
        for thread in threads:  # /proc/<thread id> holds a thread's own slack
            assert int(Path(f"/proc/{thread.name}/timerslack_ns").read_text()) == TIMER_SLACK_NS
    finally:
        nats.stop()
