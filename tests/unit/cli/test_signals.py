"""A service started by the CLI exits 0 after SIGTERM even when it leaves a stubborn task behind.

The event loop's own shutdown cancels each task left over once and waits for it without bound; a
task that survives one cancellation (Python 3.11's `asyncio.wait_for` swallows one arriving with its
result, and nats-py waits that way) would keep the process alive until it is killed.
"""

import subprocess
import sys
import textwrap

SERVICE = textwrap.dedent(
    """
    import asyncio, logging, os, signal, sys
    from x402fac.cli.main import _serve

    logging.basicConfig(level=logging.INFO, stream=sys.stdout)

    async def stubborn():
        for _ in range(3):  # survives the loop's single cancellation, not repeated ones
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                pass
        raise asyncio.CancelledError

    async def main(stop):
        asyncio.create_task(stubborn(), name="left-behind")
        asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)
        await stop.wait()

    _serve(main)
    print("exited")
    """
)


def test_a_service_leaving_a_stubborn_task_behind_exits_0_after_sigterm():
    done = subprocess.run(
        [sys.executable, "-c", SERVICE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "SIGTERM: draining" in done.stdout, done.stdout
    assert "drained in" in done.stdout and "exited" in done.stdout, done.stdout
