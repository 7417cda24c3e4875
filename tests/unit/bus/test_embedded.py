"""The embedded nats-server never outlives the process that started it, even one killed outright; it
runs on one Go thread unless GOMAXPROCS says otherwise."""

from pathlib import Path

from tests.fixtures.processes import child_ends_with_its_owner
from x402fac.bus import EmbeddedNats, free_port

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


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


async def test_the_server_runs_on_one_go_thread_unless_told_otherwise(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("GOMAXPROCS", raising=False)
    nats = EmbeddedNats(tmp_path / "one", port=free_port())
    await nats.start()
    try:
        assert _environ(nats.process.pid)["GOMAXPROCS"] == "1"
    finally:
        nats.stop()
    monkeypatch.setenv("GOMAXPROCS", "2")  # the operator's choice is kept
    nats = EmbeddedNats(tmp_path / "two", port=free_port())
    await nats.start()
    try:
        assert _environ(nats.process.pid)["GOMAXPROCS"] == "2"
    finally:
        nats.stop()
