"""`python -m bench [--quick] [--targets x402fac,python,ts,ts-nm] [--workloads evm-verify,nano,...]`

Workload names (prefixes select groups): evm-verify-c{1,8,32}, evm-verify-r{50,200,800},
evm-settle-c{1,8,32}, evm-settle-r{50,200,800}, evm-dup-x10, evm-permit2-verify-c{8,32},
evm-permit2-settle-c{8,32} (Permit2 payments of a plain ERC-20, every payer approved Permit2 once on each
fresh chain) (automine); evm1s-settle-c{1,8,32},
evm1s-dup-x10 (1 s blocks); nano-verify-c{8,32}, nano-settle-c32 (x402fac only: no Nano facilitator
exists to compare); solana-verify-c{1,8,32}, solana-settle-c{1,8,32} (x402fac, python, ts). The c=32 EVM
workloads also run against x402fac with two worker replicas of its family (the scaling run; --no-scaling).
A full run (no --quick, no --workloads) ends with the verify/settle time breakdown of x402fac
(bench.profile); --profile / --no-profile force it on or off.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import uvloop

from bench import nano, report
from bench.runner import Bench, Options
from bench.targets import BENCH_DIR, REPO_ROOT
from bench.workloads import catalog, select

TARGETS = ("x402fac", "python", "ts", "ts-nm")
DESCRIPTIONS = {
    "x402fac": "nats-server + ledger + EVM worker + gateway, separate processes (per-IP and per-payer limits off)",
    "x402fac-2w": "the same with two worker replicas of the family",
    "python": "official x402 SDK 2.25 x402FacilitatorSync + FacilitatorWeb3Signer (Solana: FacilitatorKeypairSigner),"
    " stdlib ThreadingHTTPServer",
    "ts": "@x402/core + @x402/evm 2.27 + viem as the published facilitator example (Solana: @x402/svm 2.27 +"
    " @solana/kit), node:http",
    "ts-nm": "the same with viem's nonceManager on the account",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds, not minutes)")
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help="comma list of x402fac, python, ts, ts-nm"
    )
    parser.add_argument("--workloads", default="", help="comma list of workload name prefixes (default: all)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the two-worker x402fac run")
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="profile one x402fac verify and settle (default: on for a full run of every workload)",
    )
    parser.add_argument(
        "--profile-only",
        action="store_true",
        help="run only the profile and add it to the results already in --out (re-rendering them)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results directory (default bench/results, --quick: bench/results/quick)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs of every process)")
    return parser.parse_args(argv)


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    found = {name: version(name) for name in ("x402", "web3", "aiohttp")}
    lock = BENCH_DIR / "package-lock.json"
    if lock.exists():
        packages = json.loads(lock.read_text()).get("packages", {})
        for name in ("@x402/core", "@x402/evm", "viem", "@x402/svm", "@solana/kit"):
            found[name] = packages.get(f"node_modules/{name}", {}).get("version", "?")
    try:
        found["node"] = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        found["node"] = "missing"
    return found


async def profile_only(args: argparse.Namespace) -> int:
    from bench.profile import profile_x402fac

    out = args.out or (BENCH_DIR / "results" / ("quick" if args.quick else ""))
    data = json.loads((out / "results.json").read_text())
    data["profile"] = await profile_x402fac(args.quick, print)
    data["meta"]["profile_run"] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m bench " + shlex.join(sys.argv[1:]),
        "commit": _git_commit(),
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    print("wrote " + ", ".join(str(p) for p in report.write(data, out)))
    return 0


async def run(args: argparse.Namespace) -> int:
    if args.profile_only:
        return await profile_only(args)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        sys.exit(f"unknown targets: {', '.join(sorted(unknown))} (choose from {', '.join(TARGETS)})")
    patterns = [p.strip() for p in args.workloads.split(",") if p.strip()]
    workloads = select(catalog(args.quick), patterns)
    if not workloads and not args.profile:
        sys.exit(f"no workload matches {args.workloads!r}")
    out = args.out or (BENCH_DIR / "results" / ("quick" if args.quick else ""))
    load_before = os.getloadavg()
    bench = Bench(
        Options(targets, workloads, args.quick, scaling=not args.no_scaling, keep_workdir=args.keep)
    )
    print(
        f"x402fac bench: {len(workloads)} workloads x {', '.join(targets)}; work dir {bench.workdir}",
        flush=True,
    )
    micro = {}
    if any(w.family == "nano" for w in workloads):
        micro["nano_sig_hash"] = nano.sig_hash_per_second(0.5 if args.quick else 3.0)
    results = await bench.run()
    profile = None
    if args.profile or (args.profile is None and not args.quick and not patterns):
        from bench.profile import profile_x402fac

        profile = await profile_x402fac(args.quick, print)
    shown = targets + (
        ["x402fac-2w"]
        if any(w.scaling for w in workloads) and not args.no_scaling and "x402fac" in targets
        else []
    )
    data = {
        "meta": {
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "python -m bench " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "python -m bench",
            "commit": _git_commit(),
            "quick": args.quick,
            "cpus": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "versions": _versions(),
            "targets": shown,
            "target_descriptions": {t: DESCRIPTIONS[t] for t in shown},
            "evm_payments": sum(len(p) for p in bench.evm_payments.values()),
        },
        "micro": micro,
        "workloads": results.workloads,
        "sessions": results.sessions,
    }
    if profile is not None:
        data["profile"] = profile
    paths = report.write(data, out)
    print(
        "\n"
        + "\n".join(
            f"{c['target']}: {c['measured']} (goal {c['goal']})"
            for c in data["targets_check"]
            if c["measured"]
        )
    )
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 1 if any(s.get("error") for s in results.sessions) else 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return uvloop.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
