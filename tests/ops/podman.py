"""Podman for the ops tests: the images of deploy/docker, built under the test's own names, and small
helpers around the podman command (deploy/docker/containers.conf: runc, host ulimits)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.ops.tools import need

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = ROOT / "deploy" / "docker" / "containers.conf"
PREFIX = "localhost/x402fac-test-"
TAG = "ci"
FAMILIES = ("nano", "evm", "solana")
SERVICES = ("nats", "gateway", "ledger", *(f"worker-{f}" for f in FAMILIES))
# The module each service image runs (what its smoke test imports).
SERVICE_MODULES = {
    "gateway": "x402fac.gateway.server",
    "ledger": "x402fac.ledger.service",
    **{f"worker-{f}": f"x402fac.worker_{f}.service" for f in FAMILIES},
}
BASE_IMAGE = "localhost/x402fac-base:bookworm"


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["podman", *args], env=podman_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)}: exit {result.returncode}\n{result.stdout}{result.stderr}"
        )
    return result


def need_podman() -> None:
    need("podman", "podman")
    need("runc", "runc")
    need("mmdebstrap", "mmdebstrap")


def build_images(services=SERVICES, prefix: str = PREFIX, tag: str = TAG, root: Path = ROOT) -> float:
    """deploy/docker/build.sh of `root` for `services`; the seconds it took."""
    started = time.monotonic()
    build = subprocess.run(
        [str(root / "deploy" / "docker" / "build.sh"), *services],
        env={**podman_env(), "PREFIX": prefix, "TAG": tag},
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return time.monotonic() - started


def service_images() -> list[str]:
    """The x402fac images on this machine but the Debian base (repository:tag)."""
    listing = podman("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    return [name for name in listing if name.startswith("localhost/x402fac-") and name != BASE_IMAGE]


def remove_service_images() -> None:
    """Back to a machine that never built a service image: the images and every untagged layer a build
    left (a layer cache that could hold old code) are removed; the mmdebstrap base is kept."""
    images = service_images()
    if images:
        podman("rmi", "--force", *images)
    podman("image", "prune", "--force")
    left = podman("images", "--all", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert not [
        name for name in left if name.startswith(("localhost/x402fac-", "<none>")) and name != BASE_IMAGE
    ], left
