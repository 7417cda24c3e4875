"""A whole x402fac stack as separate processes (what `make run` and a cluster run), for the ops tests.

nats-server, the three devnets (subprocesses, free ports), then ledger, workers and gateway started by
a `launcher`: local processes (`python -m x402fac.cli ...`) or containers (`podman run`). Each service
has its own metrics port, so Prometheus scrapes five real targets.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from x402fac.bus import BusUsers, EmbeddedNats, access, free_port
from x402fac.children import popen

FAMILIES = ("nano", "evm", "solana")
READY_SECONDS = 180.0


@dataclass
class Service:
    name: str  # gateway, ledger, worker-<family>
    metrics_url: str
    process: subprocess.Popen
    log_path: Path


# (service name, x402fac CLI arguments, environment, data dir, log file) -> the running process
Launcher = Callable[[str, list[str], dict[str, str], Path, Path], subprocess.Popen]


def local_launcher(
    name: str, argv: list[str], env: dict[str, str], data_dir: Path, log: Path
) -> subprocess.Popen:
    with log.open("ab") as out:
        return popen(
            [sys.executable, "-m", "x402fac.cli", *argv],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for(
    what: str,
    check: Callable[[], bool],
    processes: list[subprocess.Popen] = (),
    logs: Callable[[], str] = str,
) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{what}: process exited with {process.returncode}; {logs()}")
        with contextlib.suppress(OSError, ValueError):
            if check():
                return
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready; {logs()}")


def http_get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


@dataclass
class OtlpReceiver:
    """A small OTLP/HTTP trace receiver: keeps every span it is sent (protobuf bodies)."""

    port: int = field(default_factory=free_port)
    spans: list[dict] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.path == "/v1/traces":
                    request = ExportTraceServiceRequest()
                    request.ParseFromString(body)
                    receiver._keep(request)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _keep(self, request) -> None:
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        {
                            "service": attributes.get("service.name", ""),
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_id": span.parent_span_id.hex(),
                            "kind": span.kind,  # opentelemetry.proto: 3 is SPAN_KIND_CLIENT
                            "attributes": {a.key: a.value.string_value for a in span.attributes},
                        }
                    )

    def stop(self) -> None:
        self._server.shutdown()


@dataclass
class ProcessStack:
    launcher: Launcher = local_launcher
    # (port, JetStream store, the bus users it must know) -> the nats-server command
    nats_command: Callable[[int, Path, BusUsers], list[str]] = field(
        default=lambda port, store, users: local_nats(port, store, users)
    )
    users: BusUsers = field(default_factory=BusUsers.generate)
    extra_env: dict[str, str] = field(default_factory=dict)
    # Where the devnets listen: another address than loopback lets containers on a bridge reach them.
    devnet_host: str = "127.0.0.1"
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="x402fac-ops-")))
    services: list[Service] = field(default_factory=list)
    devnets: list[subprocess.Popen] = field(default_factory=list)
    gateway_url: str = ""
    nats: subprocess.Popen | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- {name} log ---\n" + "\n".join(text.splitlines()[-lines:])

    def start(self) -> None:
        self.prepare()
        self.start_nats()
        self.start_devnets()
        self.start_services()

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True)
        self.logs.mkdir()

    def start_nats(self) -> None:
        self.nats_port = free_port()
        store = self.root / "nats"
        store.mkdir()
        self.nats = popen(
            self.nats_command(self.nats_port, store, self.users),
            stdout=(self.logs / "nats.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        wait_for("nats-server", lambda: _accepts(self.nats_port), [self.nats], lambda: self.log_tail("nats"))

    def start_devnets(self) -> None:
        for family in FAMILIES:
            self._start_devnet(family)

    def devnet_info(self, family: str) -> dict:
        return json.loads((self.data_dir / f"devnet-{family}.json").read_text())

    def start_services(self) -> None:
        env = {
            "X402FAC_NATS_URL": f"nats://127.0.0.1:{self.nats_port}",
            "X402FAC_DATA_DIR": str(self.data_dir),
            "X402FAC_LOG_FORMAT": "text",
            "X402FAC_PENDING_METRICS_INTERVAL": "1",
            **self.extra_env,
        }
        self._start_service("ledger", ["ledger"], {**env, **self.users.env(access.LEDGER)})
        for family in FAMILIES:
            worker_env = {**env, **self.users.env(access.worker(family))}
            self._start_service(f"worker-{family}", ["worker", family], worker_env)
        gateway_port = free_port()
        self.gateway_url = f"http://127.0.0.1:{gateway_port}"
        gateway_env = {
            **env,
            **self.users.env(access.GATEWAY),
            "X402FAC_GATEWAY_HOST": "127.0.0.1",
            "X402FAC_GATEWAY_PORT": str(gateway_port),
        }
        self._start_service("gateway", ["gateway"], gateway_env)

    def _start_devnet(self, family: str) -> None:
        port = free_port()
        log = (self.logs / f"devnet-{family}.log").open("wb")
        process = popen(
            [
                sys.executable,
                "-m",
                f"x402fac.devnet.{family}",
                "--host",
                self.devnet_host,
                "--port",
                str(port),
                "--data-dir",
                str(self.data_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.devnets.append(process)
        info = self.data_dir / f"devnet-{family}.json"

        def ready() -> bool:
            return info.exists() and "devnet RPC" in (self.logs / f"devnet-{family}.log").read_text(
                errors="replace"
            )

        wait_for(f"{family} devnet", ready, [process], lambda: self.log_tail(f"devnet-{family}"))
        json.loads(info.read_text())  # complete, not half written

    def _start_service(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        metrics_port = free_port()
        log = self.logs / f"{name}.log"
        service_env = {**env, "X402FAC_METRICS_PORT": str(metrics_port)}
        process = self.launcher(name, argv, service_env, self.data_dir, log)
        service = Service(name, f"http://127.0.0.1:{metrics_port}/metrics", process, log)
        self.services.append(service)
        wanted = [f'x402fac_nats_connected{{service="{name}"}} 1.0']
        if name.startswith("worker-"):
            wanted.append(f'x402fac_worker_up{{family="{name.removeprefix("worker-")}"}} 1.0')
        if name == "gateway":
            check = lambda: json.loads(http_get(f"{self.gateway_url}/health"))["status"] == "ok"  # noqa: E731
        else:
            check = lambda: all(line in http_get(service.metrics_url).splitlines() for line in wanted)  # noqa: E731
        wait_for(name, check, [process], lambda: f"see {log}\n{self.log_tail(name)}")

    def stop(self) -> None:
        for service in reversed(self.services):
            _terminate(service.process)
        for devnet in self.devnets:
            _terminate(devnet)
        if self.nats is not None:
            _terminate(self.nats)


def _terminate(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _accepts(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def local_nats(port: int, store: Path, users: BusUsers) -> list[str]:
    return EmbeddedNats(store, port, users=users).command()


@contextlib.contextmanager
def running_stack(**options) -> Iterator[ProcessStack]:
    stack = ProcessStack(**options)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
    shutil.rmtree(stack.root, ignore_errors=True)  # kept, with its logs, when something failed
