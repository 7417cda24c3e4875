"""A ledger process drains on SIGTERM with requests in flight and its watchers busy, and exits 0.

The ledger runs as `x402fac ledger` (what a pod runs) against a real nats-server while the test
keeps it busy the way a loaded cluster does: requests to its endpoints, writes to the pending bucket
its index watches, audit entries its usage consumer pulls. It is SIGTERMed in the middle of that,
several times in a row. A ledger whose stop cancelled a watcher once and waited for it could hang
there for good (Python 3.11's `wait_for` drops a cancellation that arrives with a message) and be
killed at the end of its grace period instead of exiting 0; one that unsubscribed its endpoints at
once dropped the requests already sent to it (their callers waited out their timeout).
"""

import asyncio
import itertools
import os
import shutil
import signal
import sys
from pathlib import Path

import msgspec
import pytest

from x402fac.bus import BusError, EmbeddedNats, access, connect, free_port, request, subjects
from x402fac.children import die_with_parent
from x402fac.ledger.schema import PENDING_BUCKET
from x402fac.protocol.ledger import AuditEvent, LookupRequest, PendingReply, PendingRequest, UpdateReply

RESTARTS = 4
BUSY_SECONDS = 1.5  # load on a ready ledger before the SIGTERM
# What the cluster harness grants a SIGTERMed process before SIGKILL (the chart grants more): a
# drained ledger has exited long before; one that has not is killed (exit -9).
GRACE_SECONDS = 30.0
# Limits of what the ledger's buckets and streams reserve: nats-server refuses reservations past 3/4
# of the free disk, and this test writes a few MiB (the cluster harness does the same).
SMALL_STORE = {f"X402FAC_{name}_MAX_BYTES": str(64 * 1024 * 1024) for name in ("BUCKET", "AUDIT", "USAGE")}


async def _start_ledger(nats: EmbeddedNats, log_path: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("X402FAC_", "OTEL_"))}
    env.update(nats.env(access.LEDGER), X402FAC_LOG_FORMAT="json", PYTHONUNBUFFERED="1", **SMALL_STORE)
    log = log_path.open("ab")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "x402fac.cli",
        "ledger",
        env=env,
        stdout=log,
        stderr=log,
        preexec_fn=die_with_parent(),
    )
    log.close()
    for _ in range(600):
        if b'"ledger ready"' in log_path.read_bytes().split(b"--- run")[-1]:
            return process
        if process.returncode is not None:
            raise RuntimeError(log_path.read_text())
        await asyncio.sleep(0.1)
    raise TimeoutError(log_path.read_text())


async def _keep_busy(nc, worker, stop: asyncio.Event, counts: dict[str, int]) -> None:
    """Requests, pending-index writes and audit entries, as fast as this process sends them (the
    index written as the ledger's user, the rest as a worker's)."""
    kv = await nc.jetstream().key_value(PENDING_BUCKET)
    event = msgspec.json.encode(
        AuditEvent(kind="settle", family="evm", network="eip155:1", outcome="settled", at=1.0)
    )
    for n in itertools.count():
        if stop.is_set():
            return
        key = f"drain-{n % 50}"
        calls = [
            kv.put(key, b"evm"),
            worker.publish(subjects.audit("settle", "evm"), event),
            request(worker, subjects.LEDGER_LOOKUP, LookupRequest(key), UpdateReply, 5.0),
            request(worker, subjects.LEDGER_PENDING, PendingRequest(family="evm"), PendingReply, 5.0),
        ]
        for outcome in await asyncio.gather(*calls, return_exceptions=True):
            name = type(outcome).__name__ if isinstance(outcome, BaseException) else "ok"
            counts[name] = counts.get(name, 0) + 1
            if isinstance(outcome, BaseException) and not isinstance(outcome, BusError):
                raise outcome


@pytest.mark.timeout(300)
async def test_ledger_sigtermed_under_load_exits_0_within_its_grace_period(tmp_path):
    root = tmp_path
    nats = EmbeddedNats(root / "nats", port=free_port())
    await nats.start()
    nc = await connect(nats.url, name="test-drain", credentials=nats.credentials(access.LEDGER))
    worker = await connect(
        nats.url, name="test-drain-worker", credentials=nats.credentials(access.worker("evm"))
    )
    log_path = root / "ledger.log"
    exits: list[int | None] = []
    try:
        for run in range(RESTARTS):
            with log_path.open("ab") as log:
                log.write(f"--- run {run}\n".encode())
            ledger = await _start_ledger(nats, log_path)
            stop, counts = asyncio.Event(), {}
            busy = [asyncio.create_task(_keep_busy(nc, worker, stop, counts)) for _ in range(4)]
            await asyncio.sleep(BUSY_SECONDS)
            ledger.send_signal(signal.SIGTERM)
            try:
                exits.append(await asyncio.wait_for(ledger.wait(), GRACE_SECONDS))
            except TimeoutError:
                ledger.kill()
                exits.append(await ledger.wait())
            stop.set()
            await asyncio.gather(*busy)
            assert counts.get("ok", 0) > 0, counts
            # A request either found no ledger (Unavailable) or was answered: none that reached the
            # stopping ledger was dropped (its caller would wait out its timeout, the outcome unknown).
            assert "BusTimeout" not in counts, counts
        log = log_path.read_text()
        assert exits == [0] * RESTARTS, f"{exits}\n{log[-3000:]}"
        assert log.count('"drained in ') == RESTARTS, log[-3000:]
    finally:
        await nc.close()
        await worker.close()
        nats.stop()
        shutil.rmtree(root, ignore_errors=True)
