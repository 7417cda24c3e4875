"""Where the time goes in one x402fac verify and one settle (EVM, automine), three ways:

1. Timelines: sequential requests while the worker's RPC goes through a recording proxy in this
   process, so HTTP send/answer and every RPC call share one clock: time before the first RPC
   (gateway, NATS hop, decoding, signature recovery, ledger claim), RPC time, gaps between calls.
2. Hops in isolation: gateway alone (a network of no family), gateway + NATS + worker dispatch (a
   network the worker refuses), NATS request straight to the worker, a ledger lookup, a bare anvil call.
3. CPU: every process's CPU per request (/proc) at concurrency 8, then the same load with the
   gateway, worker and ledger under cProfile, their CPU grouped by package.
"""

from __future__ import annotations

import json
import pstats
import re
import shutil
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import evm, loadgen
from bench.procstat import CpuMeter
from bench.recorder import RpcRecorder
from bench.targets import X402fac, free_port
from x402fac.bus import access, connect, request_raw, subjects
from x402fac.rpc import JsonRpcClient


def _ms(values: list[float]) -> float | None:
    return round(1000 * statistics.median(values), 2) if values else None


async def _timelines(
    client: loadgen.Client, url: str, bodies: list[bytes], recorder: RpcRecorder, settle: bool
) -> dict[str, Any]:
    rows = []
    methods: Counter = Counter()
    for body in bodies:
        recorder.calls.clear()
        sent = time.perf_counter()
        outcome, _ = await client.send(url, body, settle)
        answered = time.perf_counter()
        if outcome != "ok":
            continue
        calls = [c for c in recorder.calls if sent <= c.start <= answered]
        for call in calls:
            methods.update(call.methods)
        busy, cursor = 0.0, sent
        for call in sorted(calls, key=lambda c: c.start):  # union of (possibly overlapping) calls
            busy += max(0.0, call.end - max(call.start, cursor))
            cursor = max(cursor, call.end)
        rows.append(
            {
                "e2e": answered - sent,
                "before_first_rpc": (calls[0].start - sent) if calls else answered - sent,
                "rpc": busy,
                "after_last_rpc": (answered - max(c.end for c in calls)) if calls else 0.0,
                "calls": len(calls),
            }
        )
    count = max(len(rows), 1)
    summary = {
        key: _ms([r[key] for r in rows]) for key in ("e2e", "before_first_rpc", "rpc", "after_last_rpc")
    }
    summary["between_rpcs_ms"] = round(
        (summary["e2e"] or 0)
        - (summary["before_first_rpc"] or 0)
        - (summary["rpc"] or 0)
        - (summary["after_last_rpc"] or 0),
        2,
    )
    summary["requests"] = len(rows)
    summary["rpc_calls_per_request"] = round(sum(r["calls"] for r in rows) / count, 2)
    summary["rpc_methods_per_request"] = {m: round(n / count, 2) for m, n in methods.most_common()}
    return summary


async def _median_ms(times: int, action: Callable[[], Any]) -> float | None:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        await action()
        samples.append(time.perf_counter() - started)
    return _ms(samples)


def _body_for_network(body: bytes, network: str) -> bytes:
    data = json.loads(body)
    data["paymentRequirements"]["network"] = network
    data["paymentPayload"]["accepted"]["network"] = network
    return json.dumps(data).encode()


_GROUPS = [
    (re.compile(r"x402fac/(\w+)/"), lambda m: f"x402fac.{m.group(1)}"),
    (re.compile(r"site-packages/(\w+)"), lambda m: m.group(1)),
    (re.compile(r"python3\.\d+/(asyncio)/"), lambda m: "asyncio"),
    (re.compile(r"python3\.\d+/(\w+)"), lambda m: "stdlib"),
]


def _group(filename: str, function: str) -> str:
    if filename == "~":
        if "poll" in function or "select" in function:
            return "idle"
        match = re.search(r"of '([\w.]+)", function) or re.search(r"<built-in method ([\w.]+)", function)
        return f"builtin {match.group(1).split('.')[0]}" if match else "builtin"
    for pattern, name in _GROUPS:
        match = pattern.search(filename)
        if match:
            return name(match)
    return "other"


def cpu_by_package(path: Path, top: int = 8) -> dict[str, float]:
    """Share of a process's busy CPU (tottime, idle polling excluded) per package, in percent."""
    stats = pstats.Stats(str(path))
    groups: dict[str, float] = defaultdict(float)
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        groups[_group(filename, function)] += tottime
    groups.pop("idle", None)
    total = sum(groups.values()) or 1.0
    ranked = sorted(groups.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return {name: round(100 * seconds / total, 1) for name, seconds in ranked}


async def profile_x402fac(quick: bool, say: Callable[[str], None] = print) -> dict[str, Any]:
    n_verify, n_settle = (40, 12) if quick else (300, 60)
    load_verify, load_settle = (100, 30) if quick else (1000, 250)
    workdir = Path(tempfile.mkdtemp(prefix="x402fac-profile-"))
    say("[profile] x402fac on a fresh anvil, worker RPC through a recording proxy")
    devnet = await evm.start_devnet(workdir, None, 1, free_port(), solc_cache=workdir / "solc")
    chain = evm.Chain(devnet.info)
    recorder = RpcRecorder(devnet.info["rpcUrl"])
    result: dict[str, Any] = {}
    target = X402fac("x402fac")
    client = loadgen.Client(16, 60)
    try:
        payers = [evm.Payer.create() for _ in range(16)]
        await chain.fund(p.address for p in payers)
        verify_bodies = [
            p.body for p in evm.sign_payments(payers, n_verify + 20 + load_verify, evm.new_address())
        ]
        settle_bodies = [
            p.body for p in evm.sign_payments(payers, n_settle + 5 + load_settle, evm.new_address())
        ]
        await recorder.start()
        info_path = workdir / "devnet-evm.json"
        info = json.loads(info_path.read_text())
        info["rpcUrl"] = recorder.url  # the worker reads this file: its RPC goes through the recorder
        info_path.write_text(json.dumps(info))
        await target.start({"evm": info}, workdir)
        await loadgen.closed_loop(client, target.url + "/verify", verify_bodies[:20], 1, 30, False)
        await loadgen.closed_loop(client, target.url + "/settle", settle_bodies[:5], 1, 30, True)
        result["verify_timeline_ms"] = await _timelines(
            client, target.url + "/verify", verify_bodies[20 : 20 + n_verify], recorder, False
        )
        result["settle_timeline_ms"] = await _timelines(
            client, target.url + "/settle", settle_bodies[5 : 5 + n_settle], recorder, True
        )
        assert target.nats is not None
        nc = await connect(target.nats.url, credentials=target.nats.credentials(access.GATEWAY))
        # Ledger lookups are the workers' to make.
        as_worker = await connect(target.nats.url, credentials=target.nats.credentials(access.worker("evm")))
        sample = verify_bodies[20]
        times = 50 if quick else 300
        no_family = _body_for_network(sample, "foo:bar")
        not_served = _body_for_network(sample, "eip155:1")
        direct = JsonRpcClient([devnet.info["rpcUrl"]])
        via_recorder = JsonRpcClient([recorder.url])
        result["hops_median_ms"] = {
            "http_gateway_only (network of no family)": await _median_ms(
                times, lambda: client.send(target.url + "/verify", no_family, False)
            ),
            "http_gateway_nats_worker_no_chain (eip155:1, not served)": await _median_ms(
                times, lambda: client.send(target.url + "/verify", not_served, False)
            ),
            "nats_worker_supported (bare hop)": await _median_ms(
                times, lambda: request_raw(nc, subjects.supported("evm"), b"", 5)
            ),
            "nats_worker_verify (no gateway, RPC via proxy)": await _median_ms(
                times, lambda: request_raw(nc, subjects.verify("evm"), sample, 5)
            ),
            "nats_ledger_lookup": await _median_ms(
                times,
                lambda: request_raw(as_worker, subjects.LEDGER_LOOKUP, b'{"payment_id":"bench/none"}', 5),
            ),
            "anvil_eth_call_direct": await _median_ms(times, lambda: chain.balance_of(payers[0].address)),
            "anvil_via_recorder_proxy": await _median_ms(times, lambda: via_recorder.call("eth_blockNumber")),
            "anvil_direct_eth_blockNumber": await _median_ms(times, lambda: direct.call("eth_blockNumber")),
        }
        await direct.close()
        await via_recorder.close()
        await nc.close()
        await as_worker.close()
        # CPU per process per request, at concurrency 8 (RPC still through the proxy).
        assert devnet.process is not None
        groups = {name: [pid] for name, pid in target.pids().items()} | {"anvil": [devnet.process.pid]}
        cursor_v, cursor_s = 20 + n_verify, 5 + n_settle
        for action, bodies in (("verify", verify_bodies[cursor_v:]), ("settle", settle_bodies[cursor_s:])):
            meter = CpuMeter(groups)
            meter.start()
            run = await loadgen.closed_loop(
                client, f"{target.url}/{action}", bodies, 8, 60, action == "settle"
            )
            used = meter.stop()
            result[f"{action}_cpu_ms_per_req_c8"] = {
                name: round(1000 * seconds / max(len(run.samples), 1), 3) for name, seconds in used.items()
            } | {"loadgen": round(1000 * run.loadgen_cpu / max(len(run.samples), 1), 3)}
        await target.stop()
        # The same load under cProfile (fresh payments, same chain).
        say("[profile] the same load with gateway, worker and ledger under cProfile")
        verify_bodies = [p.body for p in evm.sign_payments(payers, load_verify + 50, evm.new_address())]
        settle_bodies = [p.body for p in evm.sign_payments(payers, load_settle + 10, evm.new_address())]
        profiled = X402fac("x402fac", profile_dir=workdir / "cprofile")
        await profiled.start({"evm": info}, workdir)
        try:
            await loadgen.closed_loop(client, profiled.url + "/verify", verify_bodies[:50], 8, 60, False)
            await loadgen.closed_loop(client, profiled.url + "/settle", settle_bodies[:10], 8, 60, True)
            profiled.start_profiling()
            verify_bodies, settle_bodies = verify_bodies[50:], settle_bodies[10:]
            await loadgen.closed_loop(client, profiled.url + "/verify", verify_bodies, 8, 60, False)
            await loadgen.closed_loop(client, profiled.url + "/settle", settle_bodies, 8, 60, True)
        finally:
            await profiled.stop()
        result["cpu_by_package_percent"] = {
            path.stem: cpu_by_package(path) for path in sorted((workdir / "cprofile").glob("*.prof"))
        }
        result["cpu_profile_load"] = f"{load_verify} verifies then {load_settle} settles at concurrency 8"
    except BaseException:
        say(f"[profile] failed; logs kept in {workdir}/logs")
        raise
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    finally:
        await client.close()
        await target.stop()
        await recorder.stop()
        await chain.close()
        await devnet.stop()
    return result
