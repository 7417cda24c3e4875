"""The Helm chart's own manifests, run: k8s/x402fac rendered with helm-python-sdk (NATS dependency off,
an external NATS URL) and played by Debian's `podman kube play` (podman 4.3) on a bridge network of its
own, with a NATS container, against devnets on the host: the closest this machine gets to a cluster.

Checked: every pod runs as the chart's non-root user on a read-only root without capabilities, the
chart's own readiness and liveness probes pass inside each container, one payment per network settles
through the gateway pod with the official clients, and the nano worker scaled to 2 replicas through
values runs two pods that both serve.

What podman 4.3 needs, and the only liberties taken with the rendered manifests:
- a Secret referenced by `secretRef`/`secretKeyRef` must exist first as a podman secret holding a flat JSON
  object {"KEY": "<base64 of the value>"} (a played `kind: Secret` is stored in a form 4.3 cannot read
  back): every rendered Secret, and the existing Secrets the values name, are created that way;
- containerPorts are dropped: 4.3 publishes every containerPort on the host (Kubernetes publishes none),
  so two pods with the same metrics port would clash; the probes' named ports are resolved from the
  rendered manifest;
- NATS runs with the bus users of x402fac.bus.access (passwords made at start, the natsAuth Secret
  created as a podman secret like the others); TLS is off (the chart's default is on, with certificates
  from a Secret: mounting a Secret as a volume is not what this test checks);
- only ConfigMaps and Deployments are played: Services, PodDisruptionBudgets and NetworkPolicies have no
  podman counterpart (pods reach each other by address on the bridge).
Left as it is: 4.3 turns the `tmp` emptyDir into one volume named `tmp` that every pod mounts (Kubernetes
gives each pod its own); harmless here, no service reads there what another wrote.

`make test-images` runs it (X402FAC_TEST_IMAGES=1), after the images test.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import helm_python as helm
import nats
import pytest
import yaml

from tests.ops.podman import PREFIX, ROOT, SERVICES, TAG, build_images, need_podman, podman
from tests.ops.stack import FAMILIES, ProcessStack
from x402fac.bus import BusUsers, Credentials, EmbeddedNats, access, subjects
from x402fac.cli.demo import run_demo

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("X402FAC_TEST_IMAGES") != "1", reason="container images: run `make test-images`"
    ),
    pytest.mark.timeout(900),  # the first test also waits for the module's fixture: images, pods
]

CHART = ROOT / "k8s" / "x402fac"
READY_SECONDS = 240.0
SCALED = "nano"  # the worker Deployment scaled to 2 replicas


@dataclass
class KubePlay:
    """One release of the chart under `podman kube play`, and everything it needs from podman."""

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    secrets: list[str] = field(default_factory=list)
    users: BusUsers = field(default_factory=BusUsers.generate)
    nats_container: str = ""
    played: Path | None = None
    rendered: list[dict] = field(default_factory=list)  # the Deployments as the chart rendered them

    @property
    def release(self) -> str:
        return f"kp{self.run_id}"

    @property
    def network(self) -> str:
        return f"x402fac-kube-{self.run_id}"

    def create_network(self) -> None:
        podman("network", "create", self.network)

    def gateway_ip(self) -> str:
        """The host's address on the bridge (the devnets listen there)."""
        return podman(
            "network", "inspect", "--format", "{{range .Subnets}}{{.Gateway}}{{end}}", self.network
        ).stdout.strip()

    def start_nats(self, store: Path) -> str:
        """A NATS container on the bridge (it brings the bridge up); its client URL. JetStream keeps its
        store in `store` on the host: the ledger's streams reserve more than a tmpfs holds."""
        store.mkdir()
        store.chmod(0o777)  # the image's non-root user writes it
        config = store / "nats-server.conf"  # no anonymous access: one user per bus role
        config.write_text(EmbeddedNats(Path("/data"), 4222, "0.0.0.0", users=self.users).config_text())
        config.chmod(0o644)  # read by the image's user; this run's throwaway passwords
        self.nats_container = f"x402fac-kube-nats-{self.run_id}"
        podman(
            "run", "--detach", "--name", self.nats_container, "--network", self.network, "--read-only",
            "--volume", f"{store}:/data", "--health-interval", "disable", f"{PREFIX}nats:{TAG}",
            "-c", "/data/nats-server.conf",
        )  # fmt: skip
        address = self.address(self.nats_container)
        wait(f"nats at {address}", lambda: _accepts(address, 4222))
        return f"nats://{address}:4222"

    def address(self, container: str) -> str:
        template = f'{{{{(index .NetworkSettings.Networks "{self.network}").IPAddress}}}}'
        return podman("inspect", "--format", template, container).stdout.strip()

    def secret(self, name: str, data: dict[str, str]) -> None:
        """A Secret as podman 4.3 reads it for secretRef / secretKeyRef: {"KEY": base64(value)}."""
        encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
        with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
            json.dump(encoded, file)
            file.flush()
            podman("secret", "create", name, file.name)
        self.secrets.append(name)

    def play(self, docs: list[dict]) -> None:
        """The rendered Secrets become podman secrets; the ConfigMaps and Deployments are played."""
        for doc in docs:
            if doc["kind"] == "Secret":
                data = {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}
                self.secret(doc["metadata"]["name"], {**data, **(doc.get("stringData") or {})})
        self.rendered = [d for d in docs if d["kind"] == "Deployment"]
        played = [copy.deepcopy(d) for d in docs if d["kind"] in ("ConfigMap", "Deployment")]
        for doc in played:
            for container in (
                doc["spec"]["template"]["spec"]["containers"] if doc["kind"] == "Deployment" else ()
            ):
                container.pop("ports", None)
        fd, path = tempfile.mkstemp(prefix="x402fac-kube-", suffix=".yaml")
        os.close(fd)
        self.played = Path(path)
        self.played.write_text(yaml.safe_dump_all(played))
        podman("kube", "play", "--network", self.network, str(self.played))

    def pods(self, deployment: dict) -> list[str]:
        """podman 4.3 names a Deployment's pods <deployment>-pod-<i>."""
        name = deployment["metadata"]["name"]
        return [f"{name}-pod-{i}" for i in range(deployment["spec"].get("replicas", 1))]

    def containers(self) -> list[tuple[str, dict, str]]:
        """(pod, container spec as rendered, podman container name) of every container played."""
        found = []
        for deployment in self.rendered:
            for pod in self.pods(deployment):
                for container in deployment["spec"]["template"]["spec"]["containers"]:
                    found.append((pod, container, f"{pod}-{container['name']}"))
        return found

    def pod_address(self, pod: str) -> str:
        infra = podman("pod", "inspect", "--format", "{{.InfraContainerID}}", pod).stdout.strip()
        return self.address(infra)

    def logs(self) -> str:
        out = []
        for _pod, _spec, container in self.containers():
            result = podman("logs", "--tail", "25", container, check=False)
            out.append(f"--- {container} ---\n{result.stdout}{result.stderr}")
        return "\n".join(out)

    def down(self) -> None:
        if self.played is not None:
            podman("kube", "down", str(self.played), check=False)
            self.played.unlink(missing_ok=True)
        if self.nats_container:
            podman("rm", "--force", "--time", "2", self.nats_container, check=False)
        for name in self.secrets:
            podman("secret", "rm", name, check=False)
        podman("network", "rm", "--force", self.network, check=False)


def chart_values(
    stack: ProcessStack, nats_url: str, release: str, secrets: dict[str, dict[str, str]], users: BusUsers
) -> dict:
    """The chart's values for this machine: the devnets' networks, their keys from existing Secrets
    (added to `secrets`: name -> {key: value}; podman secrets are global, so named after the release)."""
    nano, evm, solana = (stack.devnet_info(f) for f in FAMILIES)
    signers, fee_payers = f"{release}-evm-signers", f"{release}-solana-fee-payers"
    secrets[signers] = {"signer-keys": ",".join(f["privateKey"] for f in evm["facilitators"])}
    secrets[fee_payers] = {"fee-payer-keys": ",".join(f["secret"] for f in solana["fee_payers"])}
    nats_auth = f"{release}-nats-auth"
    secrets[nats_auth] = dict(users.passwords)  # one key per bus role
    return {
        "nats": {"enabled": False},
        "externalNats": {"urls": [nats_url]},
        "natsAuth": {"existingSecret": nats_auth},
        "natsTls": {"enabled": False},
        "jetstream": {"replicas": 1},
        "image": {"prefix": PREFIX, "tag": TAG},
        "gateway": {"replicaCount": 1},
        "ledger": {"replicaCount": 1},
        "workers": {
            "nano": {
                "replicaCount": 2,
                "networks": [
                    {
                        "name": nano["network"].split(":")[1].upper(),
                        "rpcUrls": [nano["rpcUrl"]],
                        "workThreshold": nano["workThresholds"]["send"],
                    }
                ],
            },
            "evm": {
                "networks": [
                    {
                        "chainId": str(evm["chainId"]),
                        "rpcUrls": [evm["rpcUrl"]],
                        "asset": evm["usdc"]["address"],
                        "assetName": evm["usdc"]["name"],
                        "assetVersion": evm["usdc"]["version"],
                    }
                ],
                "signers": {
                    "existingSecret": signers,
                    "key": "signer-keys",
                    "count": len(evm["facilitators"]),
                },
            },
            "solana": {
                "networks": [
                    {
                        "name": "LOCAL",
                        "rpcUrls": [solana["rpc_url"]],
                        "genesisHash": solana["genesis_hash"],
                        "allowedAssets": [solana["usdc"]["mint"]],
                    }
                ],
                "feePayers": {"existingSecret": fee_payers, "key": "fee-payer-keys"},
            },
        },
    }


def render(values: dict, release: str) -> list[dict]:
    out = helm.Chart.load(CHART).render(values, name=release, namespace="x402fac")
    return [
        doc
        for path, text in sorted(out.items())
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def wait(what: str, ready, seconds: float = READY_SECONDS, logs=str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            if ready():
                return
        time.sleep(1)
    raise TimeoutError(f"{what}: not ready after {seconds:.0f} s\n{logs()}")


def _accepts(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=1):
        return True


def probe(container: str, spec: dict, which: str) -> bool:
    """Run the chart's probe inside the container, as the kubelet would: True, or it raises."""
    handler = spec[which]
    if "exec" in handler:
        result = podman("exec", container, *handler["exec"]["command"], check=False)
        assert result.returncode == 0, f"{container} {which}: {result.stdout}{result.stderr}"
        return True
    port = handler["httpGet"]["port"]
    if isinstance(port, str):  # a named port of the container, as rendered
        port = next(p["containerPort"] for p in spec["ports"] if p["name"] == port)
    url = f"http://127.0.0.1:{port}{handler['httpGet']['path']}"
    fetch = (
        f"import urllib.request; urllib.request.urlopen({url!r}, timeout={handler.get('timeoutSeconds', 1)})"
    )
    result = podman("exec", container, "python3", "-c", fetch, check=False)
    assert result.returncode == 0, f"{container} {which} {url}: {result.stdout}{result.stderr}"
    return True


@pytest.fixture(scope="module")
def cluster():
    need_podman()
    seconds = build_images(SERVICES)  # layers cached by the images test: quick when it ran first
    print(f"\nimages up to date in {seconds:.0f} s")
    kube = KubePlay()
    stack = ProcessStack()
    try:
        started = time.monotonic()
        kube.create_network()
        stack.prepare()
        nats_url = kube.start_nats(stack.root / "nats")
        stack.devnet_host = kube.gateway_ip()
        stack.start_devnets()
        secrets: dict[str, dict[str, str]] = {}
        values = chart_values(stack, nats_url, kube.release, secrets, kube.users)
        for name, data in secrets.items():
            kube.secret(name, data)
        kube.play(render(values, kube.release))
        for _pod, spec, container in kube.containers():
            wait(container, lambda c=container, s=spec: probe(c, s, "readinessProbe"), logs=kube.logs)
        print(f"chart played, every pod ready in {time.monotonic() - started:.0f} s")
        yield kube, stack, nats_url
    finally:
        kube.down()
        stack.stop()
        shutil.rmtree(stack.root, ignore_errors=True)


def test_every_pod_runs_as_the_charts_user_on_a_read_only_root(cluster):
    kube, _, _ = cluster
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    user, group = values["podSecurityContext"]["runAsUser"], values["podSecurityContext"]["runAsGroup"]
    assert user != 0
    containers = kube.containers()
    assert len(containers) == 2 + len(FAMILIES) + 1  # gateway, ledger, a worker per family, nano twice
    for _pod, _spec, container in containers:
        ids = podman("exec", container, "sh", "-c", "id -u; id -g; grep CapEff /proc/1/status").stdout.split()
        assert ids[:2] == [str(user), str(group)], (container, ids)
        assert ids[3] == "0000000000000000", (container, ids)  # every capability dropped
        write = podman("exec", container, "touch", "/probe", check=False)
        assert write.returncode != 0 and "Read-only file system" in write.stderr, (container, write.stderr)
        assert podman("exec", container, "touch", "/tmp/probe").returncode == 0  # the emptyDir is writable
        inspect = podman("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", container).stdout.strip()
        assert inspect == "true", container


def test_the_charts_probes_pass_in_every_container(cluster):
    kube, _, _ = cluster
    for _pod, spec, container in kube.containers():
        for which in ("readinessProbe", "livenessProbe"):
            assert which in spec, (container, which)
            probe(container, spec, which)


def test_the_gateways_pre_stop_hook_runs_in_its_image(cluster):
    """The kubelet runs the hook in the container: the command must exist in our image and succeed."""
    kube, _, _ = cluster
    hooks = [
        (c, s["lifecycle"]["preStop"]["exec"]["command"]) for _, s, c in kube.containers() if "lifecycle" in s
    ]
    assert hooks and all("gateway" in container for container, _ in hooks), hooks
    for container, command in hooks:
        result = podman("exec", container, *command, check=False)
        assert result.returncode == 0, f"{container} preStop {command}: {result.stdout}{result.stderr}"


async def test_a_payment_per_network_settles_through_the_gateway_pod(cluster):
    kube, stack, _ = cluster
    gateway = next(d for d in kube.rendered if d["metadata"]["name"].endswith("-gateway"))
    port = next(
        p["containerPort"]
        for p in gateway["spec"]["template"]["spec"]["containers"][0]["ports"]
        if p["name"] == "http"
    )
    gateway_url = f"http://{kube.pod_address(kube.pods(gateway)[0])}:{port}"
    for family in FAMILIES:
        lines: list[str] = []
        result = await run_demo(family, gateway_url, data_dir=stack.data_dir, say=lines.append)
        assert result.succeeded, "\n".join(lines) + "\n" + kube.logs()
        print(f"{family}: paid {result.price} through the gateway pod, tx {result.transaction}")


async def test_the_scaled_worker_runs_two_pods_that_both_serve(cluster):
    kube, _, nats_url = cluster
    deployment = next(d for d in kube.rendered if d["metadata"]["name"].endswith(f"-worker-{SCALED}"))
    assert deployment["spec"]["replicas"] == 2
    running = podman("pod", "ps", "--format", "{{.Name}} {{.Status}}").stdout.splitlines()
    assert sorted(line for line in running if line.split()[0] in kube.pods(deployment)) == [
        f"{pod} Running" for pod in kube.pods(deployment)
    ]
    # The operator's bus user: it may read the services' $SRV stats and ask a family what it supports.
    operator = Credentials(access.ADMIN, kube.users.passwords[access.ADMIN])
    nc = await nats.connect(nats_url, **operator.options())  # its own inbox prefix too
    try:
        served: dict[str, int] = {}
        for _ in range(200):  # the queue group picks a replica per request
            await nc.request(subjects.supported(SCALED), b"", timeout=5)
            served = await _requests_per_instance(nc, f"x402fac-{SCALED}")
            if len(served) == 2 and all(served.values()):
                break
        assert len(served) == 2 and all(served.values()), served
        print(
            f"worker-{SCALED}: 2 replicas, supported requests served per instance: {sorted(served.values())}"
        )
    finally:
        await nc.close()


async def _requests_per_instance(nc, service: str) -> dict[str, int]:
    """NATS micro $SRV.STATS: every instance of the service answers with its endpoints' counters."""
    inbox = nc.new_inbox()
    replies = await nc.subscribe(inbox)
    await nc.publish(f"$SRV.STATS.{service}", b"", reply=inbox)
    stats: dict[str, int] = {}
    with contextlib.suppress(TimeoutError, nats.errors.TimeoutError):
        while True:
            message = await replies.next_msg(timeout=1)
            body = json.loads(message.data)
            stats[body["id"]] = sum(
                e.get("num_requests", 0) for e in body["endpoints"] if e["name"] == "supported"
            )
    await replies.unsubscribe()
    return stats
