"""SIGTERM drains and a rolling restart under load loses no answer.

Rolling restart: every process of every service, one at a time, gets SIGTERM and is started again
while settles run on all three networks through both gateways. A client may retry the same settle on
a 503 worker_unavailable / worker_timeout with Retry-After, and connects to the other gateway when
one refuses connections — what a resource server behind a load balancer does; a rare
`settlement_pending` (a settle's last step met a NATS node or ledger going away) is retried the same
way. Asserted: 0 failed answers (every answer is success:true, such a 503, or a pending answer naming
its transaction, whose retry then succeeds), every SIGTERMed
process exits 0 by itself (drained, not killed), and the chain and the ledger agree with the answers.
"""

import asyncio
import time

import msgspec
import pytest

from x402fac.bus import subjects
from x402fac.worker.leases import Lease

from .checks import check_chain_and_ledger, outcomes
from .harness import FAMILIES
from .load import Load


async def _wait_streams_current(cluster, ledger, timeout: float = 60.0) -> None:
    """Until every JetStream stream has a leader and all its replicas current (a NATS node that came
    back has caught up), so the next node may go."""
    js = ledger.nc.jetstream()
    deadline = time.monotonic() + timeout
    while True:
        lagging = []
        try:
            for info in await js.streams_info():
                cluster_info = info.cluster
                if cluster_info is None or not cluster_info.leader:
                    lagging.append(info.config.name)
                    continue
                if len(cluster_info.replicas or []) < 2 or not all(r.current for r in cluster_info.replicas):
                    lagging.append(info.config.name)
        except Exception as exc:
            lagging.append(str(exc))
        if not lagging:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"streams not current: {lagging}")
        await asyncio.sleep(0.5)


@pytest.mark.timeout(900)
async def test_rolling_restart_under_load_no_failed_answer(cluster, payments, client, ledger, results):
    await payments.solana.setup()
    order = [
        *(p.name for p in cluster.nats_nodes),
        *(p.name for p in cluster.ledgers),
        *(w.name for f in FAMILIES for w in cluster.workers[f]),
        *(g.name for g in cluster.gateways),
    ]
    load = Load(client, payments.makers(), loops=2, interval=0.5, retry_503=True)
    load.start()
    await asyncio.sleep(3)
    exits = {}
    timings = {}
    for name in order:
        process = cluster.process(name)
        began = time.monotonic()
        exits[name] = await process.terminate()
        stopped = time.monotonic()
        await process.restart()
        if name.startswith("nats"):
            await _wait_streams_current(cluster, ledger)
        if name.startswith("worker"):  # the new replica settles before its sibling goes
            await cluster.wait_workers()
        timings[name] = {
            "at_s": round(began - load.started, 2),
            "drain_s": round(stopped - began, 2),
            "back_s": round(time.monotonic() - stopped, 2),
        }
        await asyncio.sleep(1)
    await load.stop()

    counted = outcomes(load.attempts)
    results["rolling"] = {
        "answers": counted,
        "duration_s": round(load.stopped - load.started, 1),
        "processes": timings,
    }
    print(f"\nrolling restart: {counted}\n{timings}")
    assert exits == {name: 0 for name in order}, f"not drained (exit codes): {exits}"
    failed = {k: v for k, v in counted.items() if k not in ("success", "unavailable", "settlement_pending")}
    assert not failed, f"failed answers: {failed}\n{_story(load, timings)}"
    # A settle whose final step met a NATS node or ledger going away says so and names its transaction;
    # rare, never a lie, and its retry gets the one success (checked below for every payment).
    pending = [a for a in load.attempts if a.outcome == "settlement_pending"]
    assert all(a.transaction for a in pending), pending
    assert len(pending) <= max(1, len(load.attempts) // 50), f"pending answers: {len(pending)}"
    by_payment = load.by_payment()
    unsettled = [p for p, tries in by_payment.items() if tries[-1].outcome != "success"]
    assert not unsettled, f"payments without their success: {unsettled[:5]}"
    assert all(a.retry_after for a in load.attempts if a.outcome == "unavailable")
    await check_chain_and_ledger(load.attempts, payments, ledger)


def _story(load: Load, timings: dict) -> str:
    """Every attempt of each payment that did not end well, beside when each process went down."""
    ok = ("success", "unavailable", "settlement_pending")
    lines = [
        f"processes (drain/back seconds, in order): {timings}",
        f"load began at monotonic {load.started:.2f}",
    ]
    for tries in load.by_payment().values():
        if any(a.outcome not in ok for a in tries):
            lines.extend(a.describe(load.started) for a in tries)
    return "\n".join(lines)


async def _leases(ledger) -> dict[str, Lease]:
    kv = await ledger.nc.jetstream().key_value(subjects.LEASES_BUCKET)
    found = {}
    try:
        keys = await kv.keys()
    except Exception:  # no keys at all
        return found
    for key in keys:
        try:
            entry = await kv.get(key)
            found[key] = msgspec.json.decode(entry.value, type=Lease)
        except Exception:  # deleted meanwhile, or a member announcement
            continue
    return found


@pytest.mark.timeout(300)
async def test_sigterm_releases_signer_leases(cluster, ledger):
    """A SIGTERMed EVM worker hands its keys back at once: no lease names it after it exited."""
    before = {r["replica"] for r in (await cluster.wait_workers())["replicas"]["evm"]}
    process = cluster.workers["evm"][0]
    try:
        assert await process.terminate() == 0
        leases = await _leases(ledger)  # read at once: a lease not released would run 15 s more
        read_at = time.time()
        gone: set[str] = set()
        for _ in range(40):  # /health lists replicas from a census cached a few seconds
            after = await cluster.health()
            gone = before - {r["replica"] for r in after["replicas"].get("evm", [])}
            if gone:
                break
            await asyncio.sleep(0.5)
        assert len(gone) == 1, (before, gone)
        held_by_gone = {k: v for k, v in leases.items() if v.holder in gone and v.expires_at > read_at}
        assert not held_by_gone, held_by_gone
    finally:
        if not process.running:
            await process.restart()
    await cluster.wait_workers()


@pytest.mark.timeout(300)
async def test_no_live_worker_is_503_with_retry_after_then_recovers(cluster, payments, client):
    """Both Nano workers stopped: both gateways answer 503 worker_unavailable with Retry-After; once
    a worker is back they settle again by themselves (no gateway restart)."""
    workers = cluster.workers["nano"]
    for worker in workers:
        assert await worker.terminate() == 0
    try:
        await asyncio.sleep(6)  # longer than the gateways' view of live workers is cached (5 s)
        for gateway in (0, 1):
            pay = await payments.nano.make()
            attempt = await client.settle(pay, gateway)
            assert attempt.status == 503, attempt.body
            assert attempt.body["error"] == "worker_unavailable"
            assert attempt.retry_after and int(attempt.retry_after) > 0
        evm = await client.settle(await payments.evm.make(), 0)
        assert evm.outcome == "success", evm.body  # the other families are not affected
    finally:
        for worker in workers:
            if not worker.running:
                await worker.restart()
    await cluster.wait_workers()
    for gateway in (0, 1):
        pay = await payments.nano.make()
        attempt = await client.settle(pay, gateway)
        while attempt.outcome == "unavailable":  # a gateway's cached view may lag a few seconds
            await asyncio.sleep(float(attempt.retry_after or 1))
            attempt = await client.settle(pay, gateway)
        assert attempt.outcome == "success", attempt.body
