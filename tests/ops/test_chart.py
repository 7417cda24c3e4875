"""The Helm chart k8s/x402fac: rendered (helm-python-sdk, no helm binary), linted, every manifest
validated against the Kubernetes 1.30 schemas, each worker scaled through its own values."""

import copy
import json
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from x402fac.bus import access

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "k8s" / "x402fac"
OBSERVABILITY = ROOT / "deploy" / "observability"
KUBE_VERSION = "1.30.0"
# Custom resources (Prometheus Operator, KEDA): no Kubernetes schema; their content is checked below.
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject"}
EXTERNAL_NATS = {
    "nats": {"enabled": False},
    "externalNats": {"urls": ["nats://nats-0:4222", "nats://nats-1:4222"]},
}
FAMILIES = ("nano", "evm", "solana")
# The official nats chart is a dependency that cannot be fetched here (no chart repository).
MISSING_DEPENDENCY = "chart directory is missing these dependencies: nats"


def production() -> dict:
    return yaml.safe_load((CHART / "examples" / "production.yaml").read_text())


def merged(*layers: dict) -> dict:
    result: dict = {}
    for layer in layers:
        _merge(result, copy.deepcopy(layer))
    return result


def _merge(into: dict, layer: dict) -> None:
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


@pytest.fixture(scope="module")
def chart() -> helm.Chart:
    return helm.Chart.load(CHART)


def render(chart: helm.Chart, values: dict) -> tuple[list[dict], str]:
    out = chart.render(values, name="fac", namespace="payments")
    docs = [
        doc
        for path, text in sorted(out.items())
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]
    notes = next((text for path, text in out.items() if path.endswith("NOTES.txt")), "")
    return docs, notes


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


VALUE_SETS = {"defaults": {}, "external-nats": EXTERNAL_NATS, "production": None}


@pytest.mark.parametrize("which", list(VALUE_SETS))
def test_every_manifest_validates_against_kubernetes_1_30(chart, which):
    values = production() if VALUE_SETS[which] is None else VALUE_SETS[which]
    docs, _ = render(chart, values)

    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "NetworkPolicy", "PodDisruptionBudget"} <= kinds
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    deployments = by_kind(docs, "Deployment")
    assert sorted(deployments) == sorted(
        ["fac-x402fac-gateway", "fac-x402fac-ledger"] + [f"fac-x402fac-worker-{f}" for f in FAMILIES]
    )


@pytest.mark.parametrize("which", ["external-nats", "production"])
def test_the_chart_lints_clean(which):
    values = production() if VALUE_SETS[which] is None else VALUE_SETS[which]
    report = helm.lint(CHART, values, strict=True, kube_version=f"v{KUBE_VERSION}")

    problems = [m["error"] for m in report["messages"] if m["severity"] >= 2]
    assert problems == [MISSING_DEPENDENCY]


def test_production_example_turns_on_hpa_monitoring_and_external_nats(chart):
    docs, notes = render(chart, production())

    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    assert {f"fac-x402fac-worker-{f}" for f in FAMILIES} <= set(hpas)
    assert hpas["fac-x402fac-worker-evm"]["spec"]["maxReplicas"] == 10
    evm_metrics = [m["type"] for m in hpas["fac-x402fac-worker-evm"]["spec"]["metrics"]]
    assert evm_metrics == ["Resource", "Pods"]  # CPU and in-flight requests per worker
    config = by_kind(docs, "ConfigMap")["fac-x402fac-common"]["data"]
    assert config["X402FAC_NATS_URL"].count("tls://") == 3
    assert config["X402FAC_JETSTREAM_REPLICAS"] == "3"
    assert config["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://otel-collector")
    for deployment in by_kind(docs, "Deployment").values():
        assert "replicas" not in deployment["spec"]  # the HPA owns the count
    assert "WARNING" not in notes  # 10 signer keys for at most 10 EVM replicas


def test_each_worker_scales_on_its_own_values(chart):
    base = merged(EXTERNAL_NATS, {"workers": {f: {"replicaCount": 2} for f in FAMILIES}})
    docs, _ = render(chart, merged(base, {"workers": {"evm": {"replicaCount": 7}}}))
    replicas = {name: d["spec"]["replicas"] for name, d in by_kind(docs, "Deployment").items()}
    assert replicas["fac-x402fac-worker-evm"] == 7
    assert replicas["fac-x402fac-worker-nano"] == replicas["fac-x402fac-worker-solana"] == 2

    hpa = {"enabled": True, "minReplicas": 4, "maxReplicas": 9}
    docs, _ = render(chart, merged(base, {"workers": {"solana": {"autoscaling": hpa}}}))
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    assert list(hpas) == ["fac-x402fac-worker-solana"]
    assert (
        hpas["fac-x402fac-worker-solana"]["spec"]["minReplicas"],
        hpas["fac-x402fac-worker-solana"]["spec"]["maxReplicas"],
    ) == (4, 9)
    assert hpas["fac-x402fac-worker-solana"]["spec"]["scaleTargetRef"]["name"] == "fac-x402fac-worker-solana"
    deployments = by_kind(docs, "Deployment")
    assert "replicas" not in deployments["fac-x402fac-worker-solana"]["spec"]
    assert deployments["fac-x402fac-worker-nano"]["spec"]["replicas"] == 2

    docs, _ = render(chart, merged(base, {"workers": {"nano": {"enabled": False}}}))
    assert "fac-x402fac-worker-nano" not in by_kind(docs, "Deployment")
    assert "fac-x402fac-worker-evm" in by_kind(docs, "Deployment")


def test_keda_scaled_object_replaces_the_hpa(chart):
    keda = {"enabled": True, "threshold": 15, "maxReplicaCount": 4}
    values = merged(EXTERNAL_NATS, {"workers": {"nano": {"keda": keda, "autoscaling": {"enabled": True}}}})
    docs, _ = render(chart, values)

    scaled = by_kind(docs, "ScaledObject")["fac-x402fac-worker-nano"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "fac-x402fac-worker-nano"
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] == "prometheus"
    assert 'x402fac_worker_inflight{family="nano"' in trigger["metadata"]["query"]
    assert trigger["metadata"]["threshold"] == "15"
    assert "fac-x402fac-worker-nano" not in by_kind(docs, "HorizontalPodAutoscaler")


def test_network_settings_and_signer_pool_map_onto_worker_variables(chart):
    values = merged(EXTERNAL_NATS, production(), EXTERNAL_NATS)
    docs, _ = render(chart, values)
    secrets = by_kind(docs, "Secret")

    evm = secrets["fac-x402fac-worker-evm-networks"]["stringData"]
    assert (
        evm["X402FAC_EVM_8453_RPC_URLS"]
        == "https://base-mainnet.example.com/v2/KEY,https://base.backup.example.com"
    )
    assert evm["X402FAC_EVM_8453_CONFIRMATIONS"] == "1"
    assert "X402FAC_NANO_MAINNET_RPC_URLS" in secrets["fac-x402fac-worker-nano-networks"]["stringData"]
    assert "X402FAC_SOLANA_MAINNET_RPC_URLS" in secrets["fac-x402fac-worker-solana-networks"]["stringData"]
    container = by_kind(docs, "Deployment")["fac-x402fac-worker-evm"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    signer = next(e for e in container["env"] if e["name"] == "X402FAC_EVM_SIGNER_KEYS")
    assert signer["valueFrom"]["secretKeyRef"] == {"name": "x402fac-evm-signers", "key": "signer-keys"}
    assert {"secretRef": {"name": "fac-x402fac-worker-evm-networks"}} in container["envFrom"]
    assert container["args"] == ["worker", "evm"]


def test_notes_warn_when_the_evm_hpa_can_outgrow_the_signer_pool(chart):
    values = merged(production(), {"workers": {"evm": {"signers": {"count": 4}}}})
    _, notes = render(chart, values)
    assert "WARNING: up to 10 EVM worker replicas but workers.evm.signers.count is 4" in notes
    assert "6 replica(s) would verify without settling" in notes


def test_every_container_is_locked_down(chart):
    docs, _ = render(chart, production())
    for name, deployment in by_kind(docs, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["topologySpreadConstraints"], name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert container["livenessProbe"] and container["readinessProbe"], name
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name


def test_only_the_gateway_takes_traffic_from_outside(chart):
    docs, _ = render(chart, production())
    policies = by_kind(docs, "NetworkPolicy")
    default = policies["fac-x402fac-default"]["spec"]
    assert default["policyTypes"] == ["Ingress", "Egress"]
    assert [p["port"] for rule in default["ingress"] for p in rule["ports"]] == ["metrics"]
    gateway = policies["fac-x402fac-gateway-ingress"]["spec"]
    assert gateway["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "gateway"
    rpc = policies["fac-x402fac-rpc-egress"]["spec"]
    assert rpc["podSelector"]["matchLabels"]["x402fac.io/rpc-egress"] == "true"
    labelled = {
        name
        for name, d in by_kind(docs, "Deployment").items()
        if d["spec"]["template"]["metadata"]["labels"].get("x402fac.io/rpc-egress") == "true"
    }
    assert labelled == {f"fac-x402fac-worker-{f}" for f in FAMILIES}


def test_monitoring_objects_carry_the_checked_rules_and_dashboard(chart):
    docs, _ = render(chart, production())

    rule = by_kind(docs, "PrometheusRule")["fac-x402fac"]
    assert rule["spec"]["groups"] == yaml.safe_load((OBSERVABILITY / "alerts.yml").read_text())["groups"]
    monitor = by_kind(docs, "ServiceMonitor")["fac-x402fac"]
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    metrics_services = [
        s
        for s in by_kind(docs, "Service").values()
        if s["metadata"]["labels"].get("x402fac.io/metrics") == "true"
    ]
    assert len(metrics_services) == 5
    for service in metrics_services:
        assert all(
            monitor["spec"]["selector"]["matchLabels"][k] == service["metadata"]["labels"][k]
            for k in monitor["spec"]["selector"]["matchLabels"]
        )
    dashboard = by_kind(docs, "ConfigMap")["fac-x402fac-dashboard"]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["x402fac.json"]) == json.loads(
        (OBSERVABILITY / "dashboard.json").read_text()
    )


def test_chart_copies_of_rules_and_dashboard_match_deploy_observability():
    for name in ("alerts.yml", "dashboard.json"):
        assert (CHART / "files" / name).read_bytes() == (OBSERVABILITY / name).read_bytes(), name


@pytest.mark.parametrize(
    "bad",
    [
        {"workers": {"evm": {"replicas": 3}}},  # a misspelt key
        {"workers": {"nano": {"replicaCount": -1}}},
        {"workers": {"solana": {"autoscaling": {"enabled": True, "minReplicas": 0, "maxReplicas": 3}}}},
        {"workers": {"evm": {"networks": [{"chainId": "8453", "rpcUrls": ["base.example.com"]}]}}},
        {"jetstream": {"replicas": 2}},
        {"gateway": {"service": {"type": "Headless"}}},
        {"tracing": {"otlpEndpoint": "collector:4318"}},
        {"surprise": True},
    ],
)
def test_values_outside_the_schema_are_refused(chart, bad):
    values = merged(EXTERNAL_NATS, bad)
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema(values)
    with pytest.raises(helm.HelmError):
        chart.render(values, name="fac", namespace="payments")


def test_the_values_that_ship_pass_the_schema(chart):
    chart.validate_schema({})
    chart.validate_schema(production())


@pytest.mark.parametrize("settle_timeout", [45, 20, 110])
def test_each_pod_may_drain_as_long_as_its_service_takes(chart, settle_timeout):
    """SIGTERM drains (docs/operations.md): a gateway answers its settles in flight within its settle
    timeout, a worker finishes them by the same deadline, then each drains its NATS connection; a
    ledger waits at most 10 s for its requests and 5 s for its index clean-ups. The pod's grace period
    covers that, or Kubernetes kills a pod that was still answering."""
    from x402fac.bus.connection import DRAIN_SECONDS
    from x402fac.gateway.server import DRAIN_MARGIN_SECONDS

    docs, _ = render(chart, {"gateway": {"settleTimeout": settle_timeout}})
    deployments = by_kind(docs, "Deployment")
    assert len(deployments) == 2 + len(FAMILIES)
    for name, deployment in deployments.items():
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        if name.endswith("-ledger"):
            assert grace >= 10 + 5 + DRAIN_SECONDS, name
        elif name.endswith("-gateway"):
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
            assert pre_stop == 5  # Kubernetes takes it out of the endpoints meanwhile
            assert grace >= pre_stop + settle_timeout + DRAIN_MARGIN_SECONDS + DRAIN_SECONDS, name
        else:
            assert grace >= settle_timeout + DRAIN_MARGIN_SECONDS + DRAIN_SECONDS, name


# ---- the bus trusts no one: users, permissions, TLS, the NATS pods' NetworkPolicy -----------------

ROLES = {
    "fac-x402fac-gateway": access.GATEWAY,
    "fac-x402fac-ledger": access.LEDGER,
    **{f"fac-x402fac-worker-{family}": access.worker(family) for family in FAMILIES},
}


def test_the_bundled_nats_has_one_user_per_bus_role_with_exactly_its_permissions():
    """The NATS chart's users are x402fac.bus.access's roles and permissions (what every test tier
    runs with), each password from the natsAuth Secret under the role's key."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    users = values["nats"]["config"]["merge"]["authorization"]["users"]
    env = values["nats"]["container"]["env"]
    assert [user["user"] for user in users] == list(access.roles())
    for user in users:
        role = user["user"]
        assert user["permissions"] == access.permissions(role).server_config(), role
        variable = user["password"].removeprefix("<< $").removesuffix(" >>")
        secret = {"name": values["natsAuth"]["existingSecret"], "key": role}
        assert env[variable]["valueFrom"]["secretKeyRef"] == secret, role
    assert "no_auth_user" not in values["nats"]["config"]["merge"]
    assert values["nats"]["natsBox"]["enabled"] is False  # it would connect anonymously
    tls = values["natsTls"]["secretName"]
    assert values["nats"]["config"]["nats"]["tls"] == {"enabled": True, "secretName": tls}
    assert values["nats"]["config"]["cluster"]["tls"]["secretName"] == tls
    assert values["nats"]["config"]["cluster"]["tls"]["merge"] == {"verify": True}
    # Routes dial the pods' full names, the ones the certificate holds (nats-server checks them).
    assert values["nats"]["config"]["cluster"]["routeURLs"]["useFQDN"] is True
    assert values["nats"]["tlsCA"] == {"enabled": True, "secretName": tls}


@pytest.mark.parametrize("which", ["defaults", "production"])
def test_every_service_connects_as_its_own_bus_user_over_tls(chart, which):
    docs, _ = render(chart, production() if which == "production" else {})
    deployments = by_kind(docs, "Deployment")
    assert set(deployments) == set(ROLES)
    url = by_kind(docs, "ConfigMap")["fac-x402fac-common"]["data"]["X402FAC_NATS_URL"]
    assert url == "tls://fac-nats:4222" if which == "defaults" else url.startswith("tls://")
    for name, role in ROLES.items():
        pod = deployments[name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = {entry["name"]: entry for entry in container["env"]}
        assert env["X402FAC_NATS_USER"]["value"] == role
        secret = env["X402FAC_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert secret == {"name": "x402fac-nats-auth", "key": role}
        mount = next(m for m in container["volumeMounts"] if m["name"] == "nats-tls")
        assert env["X402FAC_NATS_TLS_CA"]["value"] == f"{mount['mountPath']}/ca.crt"
        assert mount["readOnly"] is True
        volume = next(v for v in pod["volumes"] if v["name"] == "nats-tls")
        assert volume["secret"] == {
            "secretName": "x402fac-nats-tls",
            "items": [{"key": "ca.crt", "path": "ca.crt"}],
        }


@pytest.mark.parametrize(
    ("release", "nats", "service", "name"),
    [
        ("fac", {}, "fac-nats", "nats"),
        ("nats-prod", {}, "nats-prod", "nats"),  # the nats chart drops "-nats" from such a release
        ("fac", {"fullnameOverride": "bus"}, "bus", "nats"),
        ("fac", {"nameOverride": "mq"}, "fac-mq", "mq"),
    ],
)
def test_services_find_the_bundled_nats_by_the_nats_charts_own_names(chart, release, nats, service, name):
    out = chart.render({"nats": nats}, name=release, namespace="payments")
    docs = [
        doc for path, text in out.items() if path.endswith(".yaml") for doc in yaml.safe_load_all(text) if doc
    ]
    common = by_kind(docs, "ConfigMap")[f"{release}-x402fac-common"]
    assert common["data"]["X402FAC_NATS_URL"] == f"tls://{service}:4222"
    policy = by_kind(docs, "NetworkPolicy")[f"{release}-x402fac-nats"]["spec"]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == name


def test_tls_off_leaves_plain_urls_and_no_ca(chart):
    docs, _ = render(
        chart,
        {
            "natsTls": {"enabled": False},
            "nats": {
                "config": {"nats": {"tls": {"enabled": False}}, "cluster": {"tls": {"enabled": False}}},
                "tlsCA": {"enabled": False},
            },
        },
    )
    assert (
        by_kind(docs, "ConfigMap")["fac-x402fac-common"]["data"]["X402FAC_NATS_URL"] == "nats://fac-nats:4222"
    )
    for name in ROLES:
        (container,) = by_kind(docs, "Deployment")[name]["spec"]["template"]["spec"]["containers"]
        assert "X402FAC_NATS_TLS_CA" not in {entry["name"] for entry in container["env"]}
        assert "X402FAC_NATS_PASSWORD" in {entry["name"] for entry in container["env"]}  # credentials stay


@pytest.mark.parametrize(
    "bad",
    [
        {"natsAuth": {"existingSecret": "other-secret"}},  # the NATS container reads another Secret
        {"natsTls": {"secretName": "other-tls"}},
        {"nats": {"tlsCA": {"enabled": False}}},
    ],
)
def test_nats_and_the_services_must_name_the_same_secrets(chart, bad):
    with pytest.raises(helm.HelmError):
        chart.render(bad, name="fac", namespace="payments")


def test_no_anonymous_service_the_auth_secret_is_required(chart):
    with pytest.raises(helm.HelmValuesError):
        chart.validate_schema(merged(EXTERNAL_NATS, {"natsAuth": {"existingSecret": ""}}))


def test_the_nats_pods_admit_only_this_releases_services(chart):
    docs, _ = render(chart, {})
    policy = by_kind(docs, "NetworkPolicy")["fac-x402fac-nats"]["spec"]
    release = {"app.kubernetes.io/instance": "fac"}
    assert policy["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "nats", **release}
    assert policy["policyTypes"] == ["Ingress"]
    by_port = {rule["ports"][0]["port"]: rule["from"] for rule in policy["ingress"]}
    ours = {"app.kubernetes.io/name": "x402fac", **release}
    assert by_port[4222] == [{"podSelector": {"matchLabels": ours}}]
    assert by_port[6222] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "nats", **release}}}]
    for deployment in by_kind(docs, "Deployment").values():  # every service is such a pod
        assert ours.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    external, _ = render(chart, EXTERNAL_NATS)
    assert "fac-x402fac-nats" not in by_kind(external, "NetworkPolicy")


def test_the_ledger_gets_the_admin_token_to_check_admin_keys_itself(chart):
    docs, _ = render(chart, merged(EXTERNAL_NATS, {"gateway": {"adminToken": {"existingSecret": "admin"}}}))
    for name in ("fac-x402fac-gateway", "fac-x402fac-ledger"):
        (container,) = by_kind(docs, "Deployment")[name]["spec"]["template"]["spec"]["containers"]
        env = {entry["name"]: entry for entry in container["env"]}
        assert env["X402FAC_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"] == {
            "name": "admin",
            "key": "admin-token",
        }
