"""`python -m bench.counts [--family solana,nano,evm] [--requests N]`: what one request costs, in counts.

Wall-clock figures move with whatever else the machine runs; these do not (or much less): for
sequential (c=1) verifies and settles of x402fac on a fresh devnet of each family, per request:
- CPU of every process (its CPU-time clock: nats-server, ledger, worker, gateway; the chain node and this load
  generator beside them);
- NATS messages each service published and was delivered (nats-server's monitoring `/connz`), and
  the server's total; messages stored per JetStream stream (`/jsz`: every KV put and delete too);
- chain RPC calls by method (the worker's RPC goes through a recording proxy in this process).
Then the same verifies at concurrency 32. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import evm, loadgen, nano, solana
from bench import targets as targets_module
from bench.procstat import CpuMeter
from bench.recorder import RpcRecorder
from bench.targets import Target, X402fac, free_port, make_target
from x402fac.bus import EmbeddedNats

IDLE_SECONDS = 20


class MonitoredNats(EmbeddedNats):
    """nats-server with its HTTP monitoring port on, to count messages per connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.http_port = free_port()

    def config(self) -> dict:
        return super().config() | {"http": f"127.0.0.1:{self.http_port}"}

    async def counts(self) -> dict[str, dict[str, int]]:
        url = f"http://127.0.0.1:{self.http_port}"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/connz?limit=1024") as response:
                connz = await response.json()
            async with session.get(f"{url}/varz") as response:
                varz = await response.json()
            async with session.get(f"{url}/jsz?accounts=true&streams=true") as response:
                jsz = await response.json()
        found: dict[str, dict[str, int]] = {"server": {"in": varz["in_msgs"], "out": varz["out_msgs"]}}
        for account in jsz.get("account_details") or []:
            for stream in account.get("stream_detail") or []:
                # messages stored (a KV put or delete is one; an ack that removes a work item is not)
                found[f"stream {stream['name']}"] = {"stored": stream["state"]["last_seq"]}
        for conn in connz["connections"]:
            name = conn.get("name") or f"cid{conn['cid']}"
            entry = found.setdefault(name, {"in": 0, "out": 0})
            entry["in"] += conn["in_msgs"]  # published by the client
            entry["out"] += conn["out_msgs"]  # delivered to the client
        return found


class CountedX402fac(X402fac):
    gc_dir: Path | None = None  # each service's garbage collections are tallied here, at exit

    def _cli(self, name: str) -> list[str]:
        if self.gc_dir is None:
            return super()._cli(name)
        self.gc_dir.mkdir(parents=True, exist_ok=True)
        freeze = ["--no-freeze"] if os.environ.get("BENCH_NO_FREEZE") else []
        return [sys.executable, "-m", "bench.gcstat_run", str(self.gc_dir / f"{name}.json"), *freeze]

    async def start(self, infos: dict[str, dict[str, Any]], workdir: Path) -> None:
        # X402fac.start builds its EmbeddedNats itself: it gets the monitored one.
        targets_module.EmbeddedNats = MonitoredNats  # type: ignore[misc]
        try:
            await super().start(infos, workdir)
        finally:
            targets_module.EmbeddedNats = EmbeddedNats  # type: ignore[misc]


async def _nats_counts(target: Target) -> dict[str, dict[str, int]]:
    """Messages per connection so far (a reference has no bus: nothing)."""
    nats = getattr(target, "nats", None)
    return await nats.counts() if isinstance(nats, MonitoredNats) else {}


def _diff(after: dict[str, dict[str, int]], before: dict[str, dict[str, int]], n: int) -> dict[str, Any]:
    return {
        name: {k: round((v - before.get(name, {}).get(k, 0)) / n, 2) for k, v in counts.items()}
        for name, counts in after.items()
    }


async def measure(
    target: Target,
    recorder: RpcRecorder,
    groups: dict[str, list[int]],
    client: loadgen.Client,
    url: str,
    bodies: list[bytes],
    concurrency: int,
    settle: bool,
    settle_idle: float = 0.0,
) -> dict[str, Any]:
    await asyncio.sleep(0.3)
    recorder.calls.clear()
    before = await _nats_counts(target)
    meter = CpuMeter(groups)
    meter.start()
    started = time.perf_counter()
    run = await loadgen.closed_loop(client, url, bodies, concurrency, 600, settle)
    elapsed = time.perf_counter() - started
    if settle_idle:
        await asyncio.sleep(settle_idle)  # background work after the answers (polls, audit, leases)
    used = meter.stop()
    after = await _nats_counts(target)
    n = max(len(run.samples), 1)
    return {
        "requests": len(run.samples),
        "outcomes": dict(run.outcomes),
        "per_s": round(len(run.samples) / elapsed, 1),
        "p50_ms": run.summary().get("p50_ms"),
        "cpu_ms_per_req": {k: round(1000 * v / n, 3) for k, v in used.items()}
        | {"loadgen": round(1000 * run.loadgen_cpu / n, 3)},
        "wakeups_per_req": {k: round(v / n, 1) for k, v in meter.woken.items()},
        "nats_msgs_per_req": _diff(after, before, n),
        "rpc_per_req": {m: round(c / n, 2) for m, c in recorder.methods().most_common()},
        "rpc_posts_per_req": round(len(recorder.calls) / n, 2),
    }


async def run_family(
    family: str,
    requests: int,
    settles: int,
    say: Any,
    target_name: str = "x402fac",
    profile: bool = False,
    open_rates: tuple[float, ...] = (),
    open_seconds: float = 10.0,
    profile_concurrency: int = 1,
    settle_concurrency: int = 1,
) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"x402fac-counts-{family}-"))
    profile_dir = workdir / "cprofile" if profile else None
    gc_dir = workdir / "gc"
    target: Target = (
        CountedX402fac("x402fac", families=(family,), profile_dir=profile_dir)
        if target_name == "x402fac"
        else make_target(target_name)
    )
    if open_rates and isinstance(target, CountedX402fac):
        target.gc_dir = gc_dir
    client = loadgen.Client(64, 60)
    chain: Any = None
    recorder: RpcRecorder | None = None
    nudge: evm.AutomineNudge | None = None
    result: dict[str, Any] = {}
    try:
        if family == "solana":
            chain = await solana.start_devnet(workdir, free_port(), 64)
            payers = solana.payers_of(chain.info)
            rpc_key, info_name = "rpc_url", "devnet-solana.json"

            async def sign(count: int, for_settle: bool) -> list[bytes]:
                pay_to = solana.Keypair().pubkey()
                await chain.open_token_account(pay_to)
                made = solana.sign_payments(chain.info, payers, count, pay_to, await chain.blockhash())
                return [p.body for p in made]
        elif family == "nano":
            chain = await nano.start_devnet(workdir, free_port(), settles + 64)
            keys = chain.info["payers"]
            verifiers = await nano.payer_states(chain.node, chain.info, keys[:64])
            settlers = await nano.payer_states(chain.node, chain.info, keys[64:])
            rpc_key, info_name = "rpcUrl", "devnet-nano.json"

            async def sign(count: int, for_settle: bool) -> list[bytes]:
                states = settlers[:count] if for_settle else verifiers
                made = nano.sign_payments(chain.info, states, count, nano.new_address(), for_settle)
                return [p.body for p in made]
        else:
            devnet = await evm.start_devnet(workdir, None, 1, free_port(), solc_cache=workdir / "solc")
            chain = devnet
            evm_chain = evm.Chain(devnet.info)
            evm_payers = [evm.Payer.create() for _ in range(16)]
            await evm_chain.fund(p.address for p in evm_payers)
            rpc_key, info_name = "rpcUrl", "devnet-evm.json"

            async def sign(count: int, for_settle: bool) -> list[bytes]:
                return [p.body for p in evm.sign_payments(evm_payers, count, evm.new_address())]

        if family == "evm":
            nudge = evm.AutomineNudge(devnet.info["rpcUrl"])  # concurrent settles: see bench/README.md
            nudge.start()
        info_path = workdir / info_name
        info = json.loads(info_path.read_text())
        recorder = RpcRecorder(info[rpc_key])
        await recorder.start()
        info[rpc_key] = recorder.url  # the worker reads this file: its RPC goes through the recorder
        info_path.write_text(json.dumps(info))
        await target.start({family: info}, workdir)
        chain_pid = chain.pid if hasattr(chain, "pid") else chain.process.pid
        groups = {name: [pid] for name, pid in target.pids().items()} | {"chain": [chain_pid]}
        say(f"[{family}] idle")
        recorder.calls.clear()
        meter = CpuMeter(groups)
        meter.start()
        idle_before = await _nats_counts(target)
        await asyncio.sleep(IDLE_SECONDS)
        used = meter.stop()
        result["idle_per_s"] = {
            "cpu_ms": {k: round(1000 * v / IDLE_SECONDS, 3) for k, v in used.items()},
            "wakeups": {k: round(v / IDLE_SECONDS, 1) for k, v in meter.woken.items()},
            "nats_msgs": _diff(await _nats_counts(target), idle_before, IDLE_SECONDS),
            "rpc": {m: round(c / IDLE_SECONDS, 2) for m, c in recorder.methods().most_common()},
        }
        warm = await sign(40, False)
        await loadgen.closed_loop(client, target.url + "/verify", warm, 4, 30, False)
        if open_rates:
            assert isinstance(target, CountedX402fac)
            target.start_profiling()  # the garbage collections from now on are tallied
            for rate in open_rates:
                say(f"[{family}] verify open loop {rate:g}/s")
                bodies = await sign(int(rate * open_seconds), False)
                meter = CpuMeter(groups)
                meter.start()
                run = await loadgen.open_loop(
                    client, target.url + "/verify", bodies, rate, open_seconds, False, 512, 30
                )
                used = meter.stop()
                summary = run.summary()
                n = max(len(run.samples), 1)
                result[f"verify_r{rate:g}"] = {
                    key: summary[key]
                    for key in ("requests", "ok", "errors", "p50_ms", "p90_ms", "p99_ms", "max_ms")
                } | {"cpu_ms_per_req": {k: round(1000 * v / n, 3) for k, v in used.items()}}
            await target.stop()
            result["gc"] = {path.stem: json.loads(path.read_text()) for path in sorted(gc_dir.glob("*.json"))}
            return result

        async def measure_settles() -> dict[str, Any]:
            bodies = await sign(settles, True)
            url = target.url + "/settle"
            return await measure(target, recorder, groups, client, url, bodies, settle_concurrency, True)

        if profile and settles and isinstance(target, X402fac):
            target.start_profiling()  # settles only: the stack stops after them
            say(f"[{family}] settle c={settle_concurrency}, profiled")
            result[f"settle_c{settle_concurrency}"] = await measure_settles()
            await target.stop()
            assert profile_dir is not None
            result["profile_top_tottime_ms_per_req"] = {
                path.stem: _top(path, settles, 40) for path in sorted(profile_dir.glob("*.prof"))
            }
            return result
        if profile and isinstance(target, X402fac):
            target.start_profiling()  # c=1 verifies only: the stack stops after them
        say(f"[{family}] verify c=1")
        if profile and profile_concurrency > 1:
            say(f"[{family}] verify c={profile_concurrency}, profiled")
            bodies = await sign(requests, False)
            result[f"verify_c{profile_concurrency}"] = await measure(
                target, recorder, groups, client, target.url + "/verify", bodies, profile_concurrency, False
            )
        else:
            result["verify_c1"] = await measure(
                target,
                recorder,
                groups,
                client,
                target.url + "/verify",
                await sign(requests, False),
                1,
                False,
            )
        if profile:
            await target.stop()
            assert profile_dir is not None
            result["profile_top_tottime_ms_per_req"] = {
                path.stem: _top(path, requests) for path in sorted(profile_dir.glob("*.prof"))
            }
            return result
        say(f"[{family}] verify c=32")
        result["verify_c32"] = await measure(
            target,
            recorder,
            groups,
            client,
            target.url + "/verify",
            await sign(requests * 4, False),
            32,
            False,
        )
        if settles:
            say(f"[{family}] settle c={settle_concurrency}")
            result[f"settle_c{settle_concurrency}"] = await measure_settles()
    finally:
        if nudge is not None:
            await nudge.stop()
        await client.close()
        await target.stop()
        if recorder is not None:
            await recorder.stop()
        if chain is not None:
            if family == "evm":
                await evm_chain.close()
                await chain.stop()
            else:
                await chain.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _top(path: Path, requests: int, count: int = 25) -> list[str]:
    """The functions that took most of a process's own CPU (tottime), in ms per request."""
    stats = pstats.Stats(str(path))
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
    total = sum(row[1][2] for row in rows)
    found = [f"total {1000 * total / requests:.3f}"]
    for (filename, line, function), (_cc, calls, tottime, _ct, _callers) in rows[:count]:
        where = "/".join(filename.split("/")[-2:])
        found.append(f"{1000 * tottime / requests:.3f} {calls / requests:.1f}x {where}:{line} {function}")
    return found


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.counts", description=__doc__)
    parser.add_argument("--family", default="solana,nano,evm")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--settles", type=int, default=10)
    parser.add_argument("--settle-concurrency", type=int, default=1, help="settles at this concurrency")
    parser.add_argument("--target", default="x402fac", help="x402fac, python, ts (Solana and EVM)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="c=1 verifies (with --settles: settles) under cProfile: top functions",
    )
    parser.add_argument(
        "--open",
        default="",
        help="comma list of verify rates: open-loop latency and garbage collections only",
    )
    parser.add_argument("--open-seconds", type=float, default=10.0)
    parser.add_argument(
        "--profile-concurrency", type=int, default=1, help="verifies profiled at this concurrency"
    )
    args = parser.parse_args(argv)
    out: dict[str, Any] = {}
    for family in args.family.split(","):
        rates = tuple(float(rate) for rate in args.open.split(",") if rate)
        out[family] = await run_family(
            family,
            args.requests,
            args.settles,
            _say,
            args.target,
            args.profile,
            rates,
            args.open_seconds,
            args.profile_concurrency,
            args.settle_concurrency,
        )
        print(json.dumps({family: out[family]}, indent=1), flush=True)


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
