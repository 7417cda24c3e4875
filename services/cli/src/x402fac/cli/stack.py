"""`x402fac run`: the whole local stack as one process tree, stopped cleanly by Ctrl-C.

nats-server (JetStream in the data dir) -> devnets -> ledger -> workers -> gateway. Each service is
its own child process, started the way a container would run it; logs go to <data dir>/logs. NATS
refuses anonymous clients: every start generates one password per bus role (x402fac.bus.access), each
service connects as its own role, and the operator's (`admin`) is written to <data dir>/nats/admin.env.
"""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from x402fac.bus import EmbeddedNats, access, free_port
from x402fac.children import die_with_parent
from x402fac.settings import load

from .settings import RunSettings

DEVNET_PORTS = {"nano": 7076, "evm": 8545, "solana": 8899}
DEVNET_OPTIONS = {"evm": ["--mixed-mining"]}
READY_TIMEOUT = 180.0
# The alert rules, when running from a checkout (an installed package has no deploy/ folder).
ALERT_RULES = Path(__file__).resolve().parents[5] / "deploy" / "observability" / "alerts.yml"


def devnet_worker_env(family: str, data_dir: Path) -> dict[str, str]:
    """What a worker serving its local devnet accepts beyond its defaults: on EVM, the devnet's own
    tokens (paid by Permit2) and both gas-sponsoring extensions, so the demo can show them."""
    if family != "evm":
        return {}
    info = json.loads((data_dir / "devnet-evm.json").read_text())
    prefix = f"X402FAC_EVM_{info['chainId']}_"
    return {
        prefix + "ALLOWED_ASSETS": ",".join(token["address"] for token in info["tokens"].values()),
        prefix + "GAS_SPONSORING": "eip2612GasSponsoring,erc20ApprovalGasSponsoring",
    }


def prometheus_config(targets: dict[str, str], rules: Path | None) -> str:
    """prometheus.yml scraping each service (job = service name) every 5 s, with the alert rules.

    JSON is YAML, so no YAML writer is needed."""
    config = {
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "scrape_configs": [
            {"job_name": name, "static_configs": [{"targets": [target], "labels": {"service": name}}]}
            for name, target in targets.items()
        ],
    }
    if rules is not None:
        config["rule_files"] = [str(rules)]
    return json.dumps(config, indent=2) + "\n"


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path


class StackRunner:
    def __init__(self, data_dir: Path, families: list[str]) -> None:
        self.data_dir = data_dir
        self.families = families
        self.logs = data_dir / "logs"
        self.children: list[Child] = []
        self._drains: list[asyncio.Task] = []
        self.settings = load(RunSettings)
        self.nats = EmbeddedNats(data_dir / "nats", port=self.settings.nats_port)
        self.env = dict(os.environ, X402FAC_DATA_DIR=str(data_dir), X402FAC_NATS_URL=self.nats.url)
        self.metrics_targets: dict[str, str] = {}  # service -> host:port of its /metrics

    async def _spawn(
        self,
        name: str,
        *argv: str,
        program: str = sys.executable,
        role: str = "",
        defaults: dict[str, str] | None = None,
    ) -> Child:
        """`defaults`: variables set only where the environment does not set them."""
        log_path = self.logs / f"{name}.log"
        log_file = log_path.open("ab")
        env = {**(defaults or {}), **self.env}
        if role:
            env.update(self.nats.env(role))
        if self.settings.prometheus and name in ("ledger", *(f"worker-{f}" for f in self.families)):
            port = free_port()
            self.metrics_targets[name] = f"127.0.0.1:{port}"
            env = dict(env, X402FAC_METRICS_PORT=str(port))
        process = await asyncio.create_subprocess_exec(
            program,
            *argv,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=log_file,
            preexec_fn=die_with_parent(),  # `x402fac run` killed outright leaves nothing running
        )
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    async def _wait_for_line(self, child: Child, marker: str) -> str:
        """Read the child's stdout until a line containing `marker`; the rest goes to its log."""
        deadline = time.monotonic() + READY_TIMEOUT
        assert child.process.stdout is not None
        while time.monotonic() < deadline:
            try:
                line = await asyncio.wait_for(child.process.stdout.readline(), timeout=1.0)
            except TimeoutError:
                continue
            if not line:
                raise RuntimeError(
                    f"{child.name} exited (code {await child.process.wait()}); see {child.log_path}"
                )
            text = line.decode(errors="replace").strip()
            if marker in text:
                self._drains.append(asyncio.create_task(self._drain(child)))
                return text
        raise TimeoutError(f"{child.name} not ready after {READY_TIMEOUT:.0f}s; see {child.log_path}")

    @staticmethod
    async def _drain(child: Child) -> None:
        assert child.process.stdout is not None
        with child.log_path.open("ab") as log, contextlib.suppress(Exception):
            while line := await child.process.stdout.readline():
                log.write(line)
                log.flush()

    async def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        await self.nats.start()
        print(f"  NATS        {self.nats.url}  (JetStream store {self.nats.store_dir})", flush=True)
        admin_env = self.nats.store_dir / "admin.env"
        admin_env.touch(mode=0o600)
        admin_env.write_text("".join(f"export {k}={v}\n" for k, v in self.nats.env(access.ADMIN).items()))
        print(f"  bus users   one per service; the operator CLI's: source {admin_env}", flush=True)
        for family in self.families:
            (self.data_dir / f"devnet-{family}.json").unlink(missing_ok=True)
            child = await self._spawn(
                f"devnet-{family}",
                "-m",
                f"x402fac.devnet.{family}",
                "--host",
                "127.0.0.1",
                "--port",
                str(DEVNET_PORTS[family]),
                "--data-dir",
                str(self.data_dir),
                *DEVNET_OPTIONS.get(family, []),
            )
            line = await self._wait_for_line(child, "devnet RPC")
            print(f"  {family:<11} {line.split('devnet RPC', 1)[1].strip()}  (devnet RPC)", flush=True)
        ledger = await self._spawn("ledger", "-m", "x402fac.cli", "ledger", role=access.LEDGER)
        await self._wait_for_log(ledger, "ledger ready")
        for family in self.families:
            worker = await self._spawn(
                f"worker-{family}",
                "-m",
                "x402fac.cli",
                "worker",
                family,
                role=access.worker(family),
                defaults=devnet_worker_env(family, self.data_dir),
            )
            await self._wait_for_log(worker, "worker ready")
        await self._spawn("gateway", "-m", "x402fac.cli", "gateway", role=access.GATEWAY)
        url = f"http://{self.env.get('X402FAC_GATEWAY_HOST', '127.0.0.1')}:{self.env.get('X402FAC_GATEWAY_PORT', '4020')}"
        await self._wait_for_http(f"{url}/health")
        print(f"  gateway     {url}   (try: curl {url}/supported)", flush=True)
        if self.settings.prometheus:
            self.metrics_targets["gateway"] = url.removeprefix("http://")
            await self._start_prometheus()
        print(f"  logs        {self.logs}", flush=True)

    async def _start_prometheus(self) -> None:
        """Prometheus scraping every service, with the alert rules (X402FAC_RUN_PROMETHEUS=1)."""
        program = shutil.which("prometheus")
        if program is None:
            print("  prometheus  not installed (Debian: apt-get install prometheus); skipped", flush=True)
            return
        home = self.data_dir / "prometheus"
        home.mkdir(exist_ok=True)
        rules = ALERT_RULES if ALERT_RULES.is_file() else None
        (home / "prometheus.yml").write_text(prometheus_config(self.metrics_targets, rules))
        address = f"127.0.0.1:{self.settings.prometheus_port}"
        child = await self._spawn(
            "prometheus",
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address={address}",
            program=program,
        )
        self._drains.append(asyncio.create_task(self._drain(child)))
        await self._wait_for_http(f"http://{address}/-/ready", child)
        print(
            f"  prometheus  http://{address}   (alert rules {'loaded' if rules else 'not found'})", flush=True
        )

    async def _wait_for_log(self, child: Child, marker: str) -> None:
        self._drains.append(asyncio.create_task(self._drain(child)))
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if child.process.returncode is not None:
                raise RuntimeError(
                    f"{child.name} exited (code {child.process.returncode}); see {child.log_path}"
                )
            if child.log_path.exists() and marker in child.log_path.read_text(errors="replace"):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{child.name} not ready; see {child.log_path}")

    async def _wait_for_http(self, url: str, child: Child | None = None) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            child = child or self.children[-1]
            if child.process.returncode is not None:
                raise RuntimeError(f"{child.name} exited; see {child.log_path}")
            try:
                await asyncio.to_thread(urllib.request.urlopen, url, None, 1)
                return
            except OSError:
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{url} did not answer")

    async def watch(self, stop: asyncio.Event) -> None:
        """Wait for Ctrl-C, or for a child to die (then everything stops)."""
        waits = {asyncio.create_task(c.process.wait()): c for c in self.children}
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *waits], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task in waits:
                child = waits[task]
                print(f"{child.name} exited unexpectedly; see {child.log_path}", file=sys.stderr, flush=True)
        stopper.cancel()

    async def stop(self) -> None:
        for child in reversed(self.children):
            if child.process.returncode is None:
                child.process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(child.process.wait(), timeout=20)
                except TimeoutError:
                    child.process.kill()
                    await child.process.wait()
        self.nats.stop()


async def run_stack(data_dir: Path, families: list[str]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    runner = StackRunner(data_dir, families)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"x402fac: starting the local stack (data dir {data_dir})", flush=True)
    try:
        await runner.start()
        print("x402fac: ready. Ctrl-C stops everything.", flush=True)
        await runner.watch(stop)
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"x402fac: start-up failed: {exc}", file=sys.stderr, flush=True)
    finally:
        print("x402fac: stopping...", flush=True)
        await runner.stop()
        print("x402fac: stopped.", flush=True)
