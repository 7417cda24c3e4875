"""The images, built from nothing and run: every service image is removed first (the mmdebstrap base
may stay), `deploy/docker/build.sh` builds them all, each image is smoke-tested on its own (its entry
point, its health check command, its service module), a rebuilt image is shown to hold a source change,
then NATS, the ledger, the three workers and the gateway run as containers (host network, read-only
root, non-root) against devnets started here, and one payment per network goes through the
containerised gateway with the official x402 clients.

Minutes, not seconds: `make test-images` runs it (X402FAC_TEST_IMAGES=1), CI calls that after `make test`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.ops.podman import (
    CONTAINERS_CONF,
    PREFIX,
    ROOT,
    SERVICE_MODULES,
    SERVICES,
    TAG,
    build_images,
    need_podman,
    podman,
    podman_env,
    remove_service_images,
)
from tests.ops.stack import FAMILIES, running_stack
from x402fac.bus import BusUsers, EmbeddedNats
from x402fac.children import popen
from x402fac.cli.demo import run_demo

pytestmark = pytest.mark.skipif(
    os.environ.get("X402FAC_TEST_IMAGES") != "1", reason="container images: run `make test-images`"
)


class Containers:
    """Launches services as containers and removes them afterwards."""

    def __init__(self) -> None:
        self.run_id = uuid.uuid4().hex[:8]
        self.names: list[str] = []

    def _name(self, service: str) -> str:
        name = f"x402fac-test-{service}-{self.run_id}"
        self.names.append(name)
        return name

    def nats(self, port: int, store: Path, users: BusUsers) -> list[str]:
        store.chmod(0o777)  # the image's non-root user writes the JetStream store
        config = store / "nats-server.conf"
        config.write_text(EmbeddedNats(Path("/data"), port, users=users).config_text())
        config.chmod(0o644)  # read by the image's user; the test's own throwaway passwords
        return [
            "env", f"CONTAINERS_CONF={CONTAINERS_CONF}",
            "podman", "run", "--rm", "--name", self._name("nats"), "--network", "host", "--read-only",
            "--health-interval", "disable", "-v", f"{store}:/data", f"{PREFIX}nats:{TAG}",
            "-c", "/data/nats-server.conf",
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
            return popen(command, env=podman_env(), stdout=out, stderr=subprocess.STDOUT)

    def remove(self) -> None:
        for name in self.names:
            podman("rm", "--force", "--ignore", name, check=False)


@pytest.fixture(scope="module")
def images() -> dict[str, int]:
    """Every image built on a machine holding none of them; their sizes in bytes."""
    need_podman()
    remove_service_images()
    seconds = build_images()
    sizes = {}
    for service in SERVICES:
        inspect = podman(
            "image", "inspect", "--format", "{{.Size}} {{.Config.User}}", f"{PREFIX}{service}:{TAG}"
        )
        size, user = inspect.stdout.split()
        assert user == "10001:10001", service
        sizes[service] = int(size)
    print(f"\nbuilt {len(SERVICES)} images from no cached layer in {seconds:.0f} s")
    return sizes


def run_image(service: str, *argv: str, entrypoint: str | None = None, tag: str = TAG):
    """The image on its own: no network, read-only root, nothing but /tmp writable."""
    options = ["--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp", "--health-interval", "disable"]
    if entrypoint:
        options += ["--entrypoint", entrypoint]
    return podman("run", *options, f"{PREFIX}{service}:{tag}", *argv, check=False)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("service", list(SERVICE_MODULES))
def test_each_image_runs_its_entry_point_check_and_service_module(images, service):
    # The health check command starts, loads its settings and reports the service down (nothing runs):
    # an exit with its own message, not a traceback from a missing dependency.
    check = run_image(service, "check", service)
    assert check.returncode == 1, check.stdout + check.stderr
    assert f"{service}: http://127.0.0.1:" in check.stderr and "Connection refused" in check.stderr, (
        check.stderr
    )
    assert "Traceback" not in check.stderr, check.stderr
    module = SERVICE_MODULES[service]
    imported = run_image(
        service, "-c", f"import x402fac.cli.main, {module}; print({module}.__name__)", entrypoint="python3"
    )
    assert imported.returncode == 0 and imported.stdout.strip() == module, imported.stdout + imported.stderr


def test_the_nats_image_runs_its_server(images):
    version = run_image("nats", "--version")
    assert version.returncode == 0 and version.stdout.startswith("nats-server: v"), (
        version.stdout + version.stderr
    )


@pytest.mark.timeout(900)
def test_a_rebuilt_image_holds_the_changed_source(images):
    """Build, change one tracked file, rebuild: the layer cache must not hand back the old code."""
    read_marker = ["-c", "import x402fac.gateway as g; print(getattr(g, 'BUILD_MARKER', 'none'))"]
    before = run_image("gateway", *read_marker, entrypoint="python3")
    assert before.stdout.strip() == "none", before.stdout + before.stderr
    scratch = Path(tempfile.mkdtemp(prefix="x402fac-fresh-"))
    try:
        _copy_tracked_files(scratch)
        marker = uuid.uuid4().hex
        source = scratch / "services" / "gateway" / "src" / "x402fac" / "gateway" / "__init__.py"
        source.write_text(source.read_text() + f"BUILD_MARKER = {marker!r}\n")
        seconds = build_images(["gateway"], tag="fresh", root=scratch)
        after = run_image("gateway", *read_marker, entrypoint="python3", tag="fresh")
        assert after.stdout.strip() == marker, after.stdout + after.stderr
        print(f"\nrebuilt the gateway image after a source change in {seconds:.0f} s: it holds the change")
    finally:
        podman("rmi", "--force", f"{PREFIX}gateway:fresh", check=False)
        shutil.rmtree(scratch, ignore_errors=True)


def _copy_tracked_files(into: Path) -> None:
    """The working tree's tracked and new files, in a git repository of their own (build.sh lists them)."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    for command in (["init", "--quiet"], ["add", "--all"]):
        subprocess.run(["git", *command], cwd=into, check=True, capture_output=True)


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
