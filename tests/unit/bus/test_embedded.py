"""The embedded nats-server never outlives the process that started it, even one killed outright."""

import os
import signal

from tests.fixtures.processes import running, start_owner, wait_gone

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
    owner, line = start_owner(OWNER, str(tmp_path))
    nats_server = int(line)
    try:
        assert running(nats_server)
        assert "nats-server" in os.readlink(f"/proc/{nats_server}/exe")
        owner.kill()
        owner.wait()
        assert wait_gone(nats_server)
    finally:
        owner.kill()
        if running(nats_server):
            os.kill(nats_server, signal.SIGKILL)
