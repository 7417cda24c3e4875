"""The images, built and run: `deploy/docker/build.sh` builds every image from a local Debian base
(mmdebstrap + podman import, no registry), then NATS, the ledger, the three workers and the gateway run
as containers (host network, read-only root, non-root) against devnets started here, and one payment
per network goes through the containerised gateway with the official x402 clients.

Minutes, not seconds: `make test-images` runs it (X402FAC_TEST_IMAGES=1), CI calls that after `make test`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.ops.stack import FAMILIES, running_stack
from tests.ops.tools import need
from x402fac.cli.demo import run_demo

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = ROOT / "deploy" / "docker" / "containers.conf"
PREFIX = "localhost/x402fac-test-"
TAG = "ci"
SERVICES = ("nats", "gateway", "ledger", *(f"worker-{f}" for f in FAMILIES))

pytestmark = pytest.mark.skipif(
    os.environ.get("X402FAC_TEST_IMAGES") != "1", reason="container images: run `make test-images`"
)


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], env=podman_env(), capture_output=True, text=True, check=check)


class Containers:
    """Launches services as containers and removes them afterwards."""

    def __init__(self) -> None:
        self.run_id = uuid.uuid4().hex[:8]
        self.names: list[str] = []

    def _name(self, service: str) -> str:
        name = f"x402fac-test-{service}-{self.run_id}"
        self.names.append(name)
        return name

    def nats(self, port: int, store: Path) -> list[str]:
        store.chmod(0o777)  # the image's non-root user writes the JetStream store
        return [
            "env", f"CONTAINERS_CONF={CONTAINERS_CONF}",
            "podman", "run", "--rm", "--name", self._name("nats"), "--network", "host", "--read-only",
            "--health-interval", "disable", "-v", f"{store}:/data", f"{PREFIX}nats:{TAG}",
            "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", "/data",
        ]  # fmt: skip

    def launch(self, name: str, argv: list[str], env: dict[str, str], data_dir: Path, log: Path):
        # The devnet info files (keys the workers use) must be readable by the containers' user.
        for path in (data_dir.parent, data_dir):
            path.chmod(0o755)
        for info in data_dir.glob("devnet-*.json"):
            info.chmod(0o644)
        command = [
            "podman", "run", "--rm", "--name", self._name(name), "--network", "host",
            "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--health-interval", "disable", "-v", f"{data_dir}:/data:ro",
        ]  # fmt: skip
        for key, value in {**env, "X402FAC_DATA_DIR": "/data"}.items():
            command += ["-e", f"{key}={value}"]
        command += [f"{PREFIX}{name}:{TAG}", *argv]
        with log.open("ab") as out:
            return subprocess.Popen(command, env=podman_env(), stdout=out, stderr=subprocess.STDOUT)

    def remove(self) -> None:
        for name in self.names:
            podman("rm", "--force", "--ignore", name, check=False)


@pytest.fixture(scope="module")
def images() -> dict[str, int]:
    """Every image built from the local base; their sizes in bytes."""
    need("podman", "podman")
    need("runc", "runc")
    need("mmdebstrap", "mmdebstrap")
    build = subprocess.run(
        [str(ROOT / "deploy" / "docker" / "build.sh"), *SERVICES],
        env={**podman_env(), "PREFIX": PREFIX, "TAG": TAG},
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    sizes = {}
    for service in SERVICES:
        inspect = podman(
            "image", "inspect", "--format", "{{.Size}} {{.Config.User}}", f"{PREFIX}{service}:{TAG}"
        )
        size, user = inspect.stdout.split()
        assert user == "10001:10001", service
        sizes[service] = int(size)
    return sizes


@pytest.fixture(scope="module")
def containers(images):
    launcher = Containers()
    try:
        with running_stack(launcher=launcher.launch, nats_command=launcher.nats) as stack:
            yield launcher, stack
    finally:
        launcher.remove()


@pytest.mark.timeout(2400)
async def test_images_build_and_the_containerised_stack_settles_on_every_network(images, containers, capsys):
    launcher, stack = containers
    with capsys.disabled():
        print("\nimage sizes: " + ", ".join(f"{s} {images[s] / 1e6:.0f} MB" for s in SERVICES))
    for container in launcher.names[1:]:  # every service's own HEALTHCHECK
        health = await asyncio.to_thread(podman, "healthcheck", "run", container, check=False)
        assert health.returncode == 0, f"{container}: {health.stdout}{health.stderr}"
    for family in FAMILIES:
        lines: list[str] = []
        result = await run_demo(family, stack.gateway_url, data_dir=stack.data_dir, say=lines.append)
        assert result.succeeded, "\n".join(lines) + "\n" + stack.log_tail(f"worker-{family}")
        with capsys.disabled():
            print(f"{family}: paid {result.price} through the containerised gateway, tx {result.transaction}")
