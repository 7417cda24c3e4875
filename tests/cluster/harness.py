"""A whole x402fac deployment as separate OS processes on loopback, for fault tests.

A 3-node NATS cluster (JetStream, every bucket and stream R3; TLS on client connections and routes,
routes with their own user, every service as its own bus user), the three devnets, 2 ledgers, 2 workers
per family (one environment each, as a Kubernetes Deployment gives it: the EVM workers share a pool of
2 signer keys, the Solana workers one fee payer) and 2 gateways. Each process runs in its own process
group, is signalled by that group's id (SIGKILL, SIGTERM) and can be started again on the same ports
and data. Everything started is stopped by its id in `stop()`, whatever happened; logs stay in the
cluster's temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nats

from tests.fixtures.tls import make_tls
from x402fac import children
from x402fac.bus import BusUsers, Credentials, EmbeddedNats, access, free_port
from x402fac.cli.stack import devnet_worker_env

FAMILIES = ("nano", "evm", "solana")
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0  # a draining service finishes in-flight settles (bounded by their deadlines)


@dataclass
class Process:
    """One service process: started in its own session, signalled as a group, restartable."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    ready_marker: str = ""  # a log line that says it serves (empty: `ready_url` or a port)
    ready_url: str = ""
    ready_port: int = 0
    popen: subprocess.Popen | None = None
    log_offset: int = 0  # where this run's log starts (a restart appends)
    exits: list[int] = field(default_factory=list)  # exit codes of earlier runs

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> None:
        assert not self.running, f"{self.name} is already running"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.name} at {time.time():.3f}\n".encode())
            self.log_offset = log.tell()
            self.popen = children.popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: children (anvil) go with it
            )

    def log_since_start(self) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(self.log_offset)
            return log.read().decode(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    async def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                code = self.popen.returncode if self.popen else None
                raise RuntimeError(f"{self.name} exited with {code}:\n{self.log_tail()}")
            if await self._is_ready():
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}")

    async def _is_ready(self) -> bool:
        if self.ready_marker:
            return self.ready_marker in self.log_since_start()
        if self.ready_url:
            try:
                await asyncio.to_thread(urllib.request.urlopen, self.ready_url, None, 1)
                return True
            except OSError:
                return False
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", self.ready_port)
            writer.close()
            return True
        except OSError:
            return False

    def signal(self, sig: int) -> None:
        if self.running:
            assert self.popen is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    async def wait_exit(self, timeout: float) -> int | None:
        """The exit code, or None if it still runs after `timeout`."""
        if self.popen is None:
            return None
        deadline = time.monotonic() + timeout
        while self.popen.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110 (a child process, no event to wait on)
            await asyncio.sleep(0.05)
        return self.popen.poll()

    async def kill(self) -> None:
        """SIGKILL the process group: a crash."""
        self.signal(signal.SIGKILL)
        code = await self.wait_exit(10)
        assert code is not None, f"{self.name} survived SIGKILL"
        self.exits.append(code)
        self._reap_group()

    async def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM and wait for a drained exit; SIGKILL (and report -9) if it does not come in time."""
        self.signal(signal.SIGTERM)
        code = await self.wait_exit(timeout)
        if code is None:
            self.signal(signal.SIGKILL)
            await self.wait_exit(10)
            code = -signal.SIGKILL
        self.exits.append(code)
        self._reap_group()
        return code

    def _reap_group(self) -> None:
        """Children left in the group (a devnet's anvil) go too."""
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)

    async def restart(self) -> None:
        self.start()
        await self.wait_ready()


class Cluster:
    def __init__(
        self,
        root: Path | None = None,
        *,
        evm_signers: int = 2,
        solana_payers: int = 120,
        nano_payers: int = 900,
    ) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="x402fac-cluster-"))
        self.logs = self.root / "logs"
        self.data = self.root / "data"
        self.evm_signers = evm_signers
        self.solana_payers = solana_payers
        self.nano_payers = nano_payers
        self.nats_ports = [free_port() for _ in range(3)]
        self.route_ports = [free_port() for _ in range(3)]
        self.gateway_ports = [free_port() for _ in range(2)]
        self.nats_nodes: list[Process] = []
        self.devnets: dict[str, Process] = {}
        self.ledgers: list[Process] = []
        self.workers: dict[str, list[Process]] = {family: [] for family in FAMILIES}
        self.gateways: list[Process] = []
        self.infos: dict[str, dict] = {}
        self.users = BusUsers.generate()
        self.tls = make_tls(self.root / "tls")
        self.env = self._base_env()

    @property
    def nats_urls(self) -> list[str]:
        return [f"tls://127.0.0.1:{port}" for port in self.nats_ports]

    def credentials(self, role: str) -> Credentials:
        return Credentials(role, self.users.passwords[role], str(self.tls.ca))

    def role_env(self, role: str, **extra: str) -> dict[str, str]:
        return dict(self.env, **self.users.env(role), **extra)

    @property
    def gateway_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.gateway_ports]

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("X402FAC_", "OTEL_"))}
        env.update(
            X402FAC_NATS_URL=",".join(self.nats_urls),
            X402FAC_NATS_TLS_CA=str(self.tls.ca),
            X402FAC_JETSTREAM_REPLICAS="3",
            X402FAC_DATA_DIR=str(self.data),
            X402FAC_RECONCILE_INTERVAL="1",
            X402FAC_TRUST_PROXY="1",  # the load comes from many clients: X-Forwarded-For names them
            X402FAC_SETTLE_TIMEOUT="20",
            X402FAC_BUCKET_MAX_BYTES=str(64 * 1024 * 1024),
            X402FAC_AUDIT_MAX_BYTES=str(64 * 1024 * 1024),
            PYTHONUNBUFFERED="1",
        )
        return env

    def processes(self) -> Iterator[Process]:
        yield from self.gateways
        for family in FAMILIES:
            yield from self.workers[family]
        yield from self.ledgers
        yield from self.devnets.values()
        yield from self.nats_nodes

    def process(self, name: str) -> Process:
        for candidate in self.processes():
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    # ---- start -----------------------------------------------------------------------------------

    def _service(self, name: str, argv: list[str], env: dict[str, str] | None = None, **ready) -> Process:
        return Process(name, argv, env or self.env, self.logs / f"{name}.log", **ready)

    async def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        routes = tuple(f"nats://127.0.0.1:{port}" for port in self.route_ports)
        route_password = secrets.token_urlsafe(24)
        for index, (port, route_port) in enumerate(zip(self.nats_ports, self.route_ports, strict=True)):
            node = EmbeddedNats(
                self.root / f"nats-{index}",
                port=port,
                name=f"n{index}",
                cluster_port=route_port,
                routes=tuple(r for r in routes if not r.endswith(f":{route_port}")),
                users=self.users,
                tls=self.tls,
                route_password=route_password,
            )
            (self.root / f"nats-{index}").mkdir(parents=True, exist_ok=True)
            self.nats_nodes.append(self._service(f"nats-{index}", node.command(), ready_port=port))
        devnet_options = {
            "nano": ["--payers", str(self.nano_payers)],
            "evm": ["--mixed-mining", "--signers", str(self.evm_signers), "--payers", "1"],
            "solana": ["--payers", str(self.solana_payers)],
        }
        for family in FAMILIES:
            argv = [sys.executable, "-m", f"x402fac.devnet.{family}", "--host", "127.0.0.1"]
            argv += ["--port", str(free_port()), "--data-dir", str(self.data), *devnet_options[family]]
            self.devnets[family] = self._service(f"devnet-{family}", argv, ready_marker="devnet RPC")
        for process in [*self.nats_nodes, *self.devnets.values()]:
            process.start()
        await asyncio.gather(*(p.wait_ready() for p in [*self.nats_nodes, *self.devnets.values()]))
        await self.wait_jetstream()
        for family in FAMILIES:
            import json

            self.infos[family] = json.loads((self.data / f"devnet-{family}.json").read_text())
        cli = [sys.executable, "-m", "x402fac.cli"]
        self.ledgers = [
            self._service(
                f"ledger-{i}", [*cli, "ledger"], self.role_env(access.LEDGER), ready_marker="ledger ready"
            )
            for i in range(2)
        ]
        for family in FAMILIES:
            self.workers[family] = [
                self._service(
                    f"worker-{family}-{i}",
                    [*cli, "worker", family],
                    # EVM: the devnet's tokens accepted as `x402fac run` does (Permit2 payments)
                    self.role_env(access.worker(family), **devnet_worker_env(family, self.data)),
                    ready_marker="worker ready",
                )
                for i in range(2)
            ]
        self.gateways = [
            self._service(
                f"gateway-{i}",
                [*cli, "gateway"],
                self.role_env(
                    access.GATEWAY, X402FAC_GATEWAY_PORT=str(port), X402FAC_GATEWAY_HOST="127.0.0.1"
                ),
                ready_url=f"http://127.0.0.1:{port}/health",
            )
            for i, port in enumerate(self.gateway_ports)
        ]
        # One ledger declares the buckets first (two at once would race on creating them).
        self.ledgers[0].start()
        await self.ledgers[0].wait_ready()
        rest = [self.ledgers[1], *(w for f in FAMILIES for w in self.workers[f]), *self.gateways]
        for process in rest:
            process.start()
        await asyncio.gather(*(p.wait_ready() for p in rest))
        await self.wait_workers()

    async def wait_jetstream(self, timeout: float = 60.0) -> None:
        """Until the cluster has a JetStream meta leader (R3 assets can be created)."""
        nc = await nats.connect(
            servers=self.nats_urls,
            connect_timeout=2,
            max_reconnect_attempts=-1,
            **self.credentials(access.LEDGER).options(),
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    await nc.jetstream().account_info()
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.25)
        finally:
            await nc.close()

    async def health(self, gateway: int = 0) -> dict:
        import json

        def get() -> dict:
            with urllib.request.urlopen(f"{self.gateway_urls[gateway]}/health", timeout=5) as response:
                return json.loads(response.read())

        return await asyncio.to_thread(get)

    async def wait_workers(self, timeout: float = 60.0, settling: dict[str, int] | None = None) -> dict:
        """Until every gateway sees the wanted number of settling replicas per family (default: all 2)."""
        wanted = settling or {family: 2 for family in FAMILIES}
        deadline = time.monotonic() + timeout
        while True:
            healths = [await self.health(i) for i in range(len(self.gateways)) if self.gateways[i].running]
            counts = [
                {f: sum(1 for r in h["replicas"].get(f, []) if r.get("settles")) for f in FAMILIES}
                for h in healths
            ]
            if all(all(c[f] >= n for f, n in wanted.items()) for c in counts):
                return healths[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"replicas settling: {counts}, wanted {wanted}")
            await asyncio.sleep(0.5)

    # ---- stop ------------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Every process this cluster started, by its process group id; then the directory if all went well."""
        for process in self.processes():
            if process.running:
                await process.terminate(timeout=15)
            else:
                process._reap_group()

    def logs_report(self, lines: int = 25) -> str:
        parts = [f"cluster logs: {self.logs}"]
        for process in self.processes():
            parts.append(
                f"--- {process.name} (pid {process.pid}, exits {process.exits}):\n{process.log_tail(lines)}"
            )
        return "\n".join(parts)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
