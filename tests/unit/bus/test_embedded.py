"""The embedded nats-server never outlives the process that started it, even one killed outright."""

from tests.fixtures.processes import child_ends_with_its_owner

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
