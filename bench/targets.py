"""The facilitators under test, each started as its own processes against a given devnet.

x402fac: embedded nats-server + ledger + worker(s) + gateway, each a separate process started the
way `x402fac run` starts them. References: the official Python SDK facilitator (bench.ref_python)
and the official TypeScript packages (bench/ref_ts.mjs), plain or with viem's nonceManager. A
reference started on the Solana devnet serves its exact SVM scheme with the devnet's fee payer key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from x402fac.bus import EmbeddedNats, access
from x402fac.children import die_with_parent
from x402fac.cli.stack import devnet_worker_env

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RECEIPT_POLL_MS = 100  # web3.py's wait_for_transaction_receipt default; viem gets the same
READY_TIMEOUT = 120.0
_PROBLEM = re.compile(r"WARNING|ERROR|CRITICAL|Traceback|\"level\": ?\"(warning|error|critical)\"", re.I)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Proc:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


async def spawn(name: str, argv: list[str], logs: Path, env: dict[str, str], cwd: Path = REPO_ROOT) -> Proc:
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=die_with_parent(),  # a killed harness leaves no facilitator behind
        )
    return Proc(name, process, log_path)


async def wait_for_log(proc: Proc, marker: str, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker in proc.log_path.read_text(errors="replace"):
            return
        if proc.process.returncode is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.process.returncode}):\n{proc.log_tail()}")
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{proc.name} not ready after {timeout:.0f}s:\n{proc.log_tail()}")


async def terminate(proc: Proc, timeout: float = 15.0) -> None:
    if proc.process.returncode is not None:
        return
    proc.process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.process.wait(), timeout)
    except TimeoutError:
        proc.process.kill()
        await proc.process.wait()


async def start_devnet(
    family: str, data_dir: Path, port: int, payers: int, timeout: float
) -> tuple[Proc, dict]:
    """`python -m x402fac.devnet.<family>` on a port, once ready: its process and its info file."""
    argv = [
        sys.executable, "-m", f"x402fac.devnet.{family}",
        "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir), "--payers", str(payers),
    ]  # fmt: skip
    proc = await spawn(f"devnet-{family}", argv, data_dir / "logs", dict(os.environ))
    await wait_for_log(proc, f"{family} devnet RPC", timeout=timeout)
    return proc, json.loads((data_dir / f"devnet-{family}.json").read_text())


@dataclass
class DevnetProcess:
    """A devnet `start_devnet` started: its process and its info file (a family adds its RPC client)."""

    proc: Proc
    info: dict[str, Any]

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def close(self) -> None:
        await terminate(self.proc)


@dataclass
class Target:
    """A facilitator answering POST {url}/verify and {url}/settle."""

    name: str
    url: str = ""
    procs: list[Proc] = field(default_factory=list)
    procs_seen: list[Proc] = field(default_factory=list)
    extra_pids: dict[str, int] = field(default_factory=dict)

    async def start(self, infos: dict[str, dict[str, Any]], workdir: Path) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        self.procs_seen += [p for p in self.procs if p not in self.procs_seen]
        for proc in reversed(self.procs):
            await terminate(proc)
        self.procs.clear()

    def log_problems(self, limit: int = 5) -> dict[str, list[str]]:
        """The first warning/error lines of each process's log (the run's report keeps them)."""
        found = {}
        for proc in self.procs_seen:
            text = proc.log_path.read_text(errors="replace") if proc.log_path.exists() else ""
            lines = [
                line[:300]
                for line in text.splitlines()
                if _PROBLEM.search(line) and "NATS disconnected" not in line  # every drain says so
            ]
            if lines:
                found[proc.name] = lines[:limit] + (
                    [f"... {len(lines) - limit} more"] if len(lines) > limit else []
                )
        return found

    def pids(self) -> dict[str, int]:
        return {p.name: p.pid for p in self.procs} | self.extra_pids

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.process.returncode is not None:
                raise RuntimeError(
                    f"{self.name}: {proc.name} died ({proc.process.returncode}):\n{proc.log_tail()}"
                )


async def wait_http(url: str, expect: str = "", timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url) as response:
                    text = await response.text()
                    if response.status == 200 and expect in text:
                        return
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} did not answer (expecting {expect!r})")


@dataclass
class X402fac(Target):
    """The stack as `x402fac run` starts it; `replicas` workers of each family in `families`."""

    families: tuple[str, ...] = ("evm",)
    replicas: int = 1
    profile_dir: Path | None = None  # ledger, workers and gateway under cProfile (on SIGUSR1), stats here
    nats: EmbeddedNats | None = None

    def _cli(self, name: str) -> list[str]:
        if self.profile_dir is None:
            return [sys.executable, "-m", "x402fac.cli"]
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        return [sys.executable, "-m", "bench.cprofile_run", str(self.profile_dir / f"{name}.prof")]

    def start_profiling(self) -> None:
        for proc in self.procs:
            proc.process.send_signal(signal.SIGUSR1)

    async def start(self, infos: dict[str, dict[str, Any]], workdir: Path) -> None:
        # The devnets wrote devnet-<family>.json into workdir: the workers find them there.
        self.nats = EmbeddedNats(workdir / "nats", port=free_port())
        await self.nats.start()
        assert self.nats.process is not None
        self.extra_pids["nats-server"] = self.nats.process.pid
        port = free_port()
        env = dict(
            os.environ,
            X402FAC_DATA_DIR=str(workdir),
            X402FAC_NATS_URL=self.nats.url,
            X402FAC_GATEWAY_HOST="127.0.0.1",
            X402FAC_GATEWAY_PORT=str(port),
            X402FAC_IP_LIMIT_PER_MINUTE="0",
            X402FAC_PAYER_SETTLE_LIMIT="0",
        )
        logs = workdir / "logs"
        ledger = await spawn(
            "ledger", [*self._cli("ledger"), "ledger"], logs, {**env, **self.nats.env(access.LEDGER)}
        )
        self.procs.append(ledger)
        await wait_for_log(ledger, "ledger ready")
        # Workers and the gateway need only NATS and the ledger: they start side by side.
        workers = [
            await spawn(
                f"worker-{family}-{replica}",
                [*self._cli(f"worker-{family}-{replica}"), "worker", family],
                logs,
                # one environment for every replica: EVM signer keys are leased from one pool; the
                # devnet's own tokens accepted as `x402fac run` does (Permit2 workloads)
                {**devnet_worker_env(family, workdir), **env, **self.nats.env(access.worker(family))},
            )
            for family in self.families
            for replica in range(self.replicas)
        ]
        gateway = await spawn(
            "gateway", [*self._cli("gateway"), "gateway"], logs, {**env, **self.nats.env(access.GATEWAY)}
        )
        self.procs += [*workers, gateway]
        await asyncio.gather(*(wait_for_log(worker, "worker ready") for worker in workers))
        self.url = f"http://127.0.0.1:{port}"
        for info in infos.values():
            await wait_http(f"{self.url}/supported", expect=info["network"])
        if "evm" in self.families and self.replicas > 1:
            await self._signers_shared()

    async def _signers_shared(self, timeout: float = READY_TIMEOUT) -> None:
        """Until every EVM replica holds a signer lease and takes settle work (/health)."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while time.monotonic() < deadline:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError, KeyError, ValueError):
                    async with session.get(f"{self.url}/health") as response:
                        health = await response.json()
                    evm = health["replicas"].get("evm", [])
                    if len(evm) == self.replicas and all(r["settles"] for r in evm):
                        return
                await asyncio.sleep(0.5)
        raise TimeoutError("the EVM replicas did not share the signer keys")

    async def stop(self) -> None:
        await super().stop()
        if self.nats is not None:
            self.nats.stop()
            self.nats = None


def reference_chain(infos: dict[str, dict[str, Any]]) -> tuple[str, str, str, str]:
    """(family, rpc url, signer key, network) a reference is started with: EVM or the Solana devnet."""
    if "solana" in infos:
        info = infos["solana"]
        return "solana", info["rpc_url"], info["fee_payers"][0]["secret"], info["network"]
    info = infos["evm"]
    return "evm", info["rpcUrl"], info["facilitators"][0]["privateKey"], info["network"]


@dataclass
class PythonReference(Target):
    async def start(self, infos: dict[str, dict[str, Any]], workdir: Path) -> None:
        family, rpc_url, key, network = reference_chain(infos)
        port = free_port()
        argv = [
            sys.executable, "-m", "bench.ref_python",
            "--port", str(port),
            "--rpc-url", rpc_url,
            "--private-key", key,
            "--network", network,
            "--family", family,
        ]  # fmt: skip
        proc = await spawn("python-reference", argv, workdir / "logs", dict(os.environ))
        self.procs.append(proc)
        await wait_for_log(proc, "listening on")
        self.url = f"http://127.0.0.1:{port}"
        await wait_http(f"{self.url}/supported", expect=network)


@dataclass
class TsReference(Target):
    nonce_manager: bool = False

    async def start(self, infos: dict[str, dict[str, Any]], workdir: Path) -> None:
        family, rpc_url, key, network = reference_chain(infos)
        port = free_port()
        env = dict(
            os.environ,
            PORT=str(port),
            FAMILY=family,
            RPC_URL=rpc_url,
            PRIVATE_KEY=key,
            NETWORK=network,
            POLLING_INTERVAL_MS=str(RECEIPT_POLL_MS),
            NONCE_MANAGER="1" if self.nonce_manager else "0",
        )
        proc = await spawn(
            self.name + "-reference",
            ["node", str(BENCH_DIR / "ref_ts.mjs")],
            workdir / "logs",
            env,
            cwd=BENCH_DIR,
        )
        self.procs.append(proc)
        await wait_for_log(proc, "listening on")
        self.url = f"http://127.0.0.1:{port}"
        await wait_http(f"{self.url}/supported", expect=network)


def ensure_ts_installed() -> None:
    """`npm ci` in bench/ when node_modules is missing or older than the lock file."""
    lock = BENCH_DIR / "package-lock.json"
    installed = BENCH_DIR / "node_modules" / ".package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=BENCH_DIR, check=True)


def make_target(name: str, replicas: int = 1, families: tuple[str, ...] = ("evm",)) -> Target:
    if name == "x402fac":
        return X402fac(name, families=families, replicas=replicas)
    if name == "python":
        return PythonReference(name)
    if name == "ts":
        return TsReference(name)
    if name == "ts-nm":
        return TsReference(name, nonce_manager=True)
    raise ValueError(f"unknown target {name!r} (x402fac, python, ts, ts-nm)")
