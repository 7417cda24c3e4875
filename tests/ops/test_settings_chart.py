"""Every variable the settings layer knows (x402fac.cli.settings.catalogue) is settable from the chart's
values: set each one's Helm value, render, and find the variable with that value in the rendered
Deployment's environment (its env, or the ConfigMap / Secret it takes through envFrom)."""

import pytest

from tests.ops.test_chart import EXTERNAL_NATS, by_kind, chart, merged, render  # noqa: F401 (fixture)
from x402fac.cli.settings import catalogue
from x402fac.settings import Variable

NETWORK = {"nano": {"name": "MAINNET"}, "evm": {"chainId": "8453"}, "solana": {"name": "MAINNET"}}
NET_NAME = {"nano": "MAINNET", "evm": "8453", "solana": "MAINNET"}
ADDRESS = "0x" + "ab" * 20
MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
# (value in the chart, what the variable then holds), where the type's sample does not fit.
SAMPLES = {
    "externalNats.urls": (["nats://a:4222", "nats://b:4222"], "nats://a:4222,nats://b:4222"),
    "log.level": ("DEBUG", "DEBUG"),
    "log.format": ("text", "text"),
    "jetstream.replicas": (5, "5"),
    "gateway.port": (8080, "8080"),
    "metrics.port": (9200, "9200"),
    "workThreshold": ("fffffe0000000000", "fffffe0000000000"),
    "rpcUrls": (
        ["https://a.example/rpc", "https://b.example/rpc"],
        "https://a.example/rpc,https://b.example/rpc",
    ),
    "asset": (ADDRESS, ADDRESS),
    "allowedAssets": ([ADDRESS], ADDRESS),
    "erc6492Factories": ([ADDRESS], ADDRESS),
    "upto": (True, "true"),  # a network entry key: the chart writes the boolean as text
    "solana.allowedAssets": ([MINT], MINT),
    "allowedMintExtensions": (["transfer_fee", "pausable"], "transfer_fee,pausable"),
    "signerKeys": (["0x" + "11" * 32], "0x" + "11" * 32),
    "feePayerKeys": (["k1", "k2"], "k1,k2"),
    "maxSettleCostWei": ("10000000000000000", "10000000000000000"),
    "gasSponsoring": (["eip2612GasSponsoring"], "eip2612GasSponsoring"),
    "bucketMaxBytes": (2147483648, "2147483648"),
    "gasLimit": (250000, "250000"),
    "assetName": ("USDC", "USDC"),
    "gateway.trustedProxies": (["10.0.0.0/8", "192.0.2.7"], "10.0.0.0/8,192.0.2.7"),
    "gateway.discoveryMinAmount.nano": ("1000000000000000000000000000000", "1000000000000000000000000000000"),
    "gateway.discoveryMinAmounts": (["0xabc=5000", "EPjF=7"], "0xabc=5000,EPjF=7"),
    "genesisHash": (
        "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d",
        "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d",
    ),
}


def sample(variable: Variable, key: str, family: str | None) -> tuple[object, str]:
    for name in (f"{family}.{key}", key, variable.values):
        if name in SAMPLES:
            return SAMPLES[name]
    if isinstance(variable.default, bool):
        return True, "1"
    if isinstance(variable.default, float):
        return 7.5, "7.5"
    if isinstance(variable.default, str):
        return "chosen", "chosen"
    return 7, "7"


def set_path(values: dict, path: str, value: object) -> None:
    *parents, last = path.split(".")
    for part in parents:
        values = values.setdefault(part, {})
    values[last] = value


def environment(docs: list[dict], deployment: str) -> dict[str, object]:
    """name -> value (or the secretKeyRef) as the Deployment's container sees it."""
    configmaps, secrets = by_kind(docs, "ConfigMap"), by_kind(docs, "Secret")
    (container,) = by_kind(docs, "Deployment")[deployment]["spec"]["template"]["spec"]["containers"]
    env: dict[str, object] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(configmaps[source["configMapRef"]["name"]].get("data") or {})
        else:
            env.update(secrets[source["secretRef"]["name"]].get("stringData") or {})
    for entry in container.get("env", []):
        env[entry["name"]] = entry.get("value", entry.get("valueFrom", {}).get("secretKeyRef"))
    return env


def cases() -> list[tuple[Variable, str, str | None]]:
    """(variable, the Deployment that must see it, its family) for every deployment variable."""
    found = []
    for variable in catalogue():
        if variable.values is None:
            continue
        path = variable.values
        if path.startswith("workers."):
            families = [path.split(".")[1]] if "{family}" not in path else list(NETWORK)
            found += [(variable, f"fac-x402fac-worker-{family}", family) for family in families]
        else:
            target = path.split(".")[0]
            deployment = {"gateway": "gateway", "ledger": "ledger"}.get(target, "ledger")
            found.append((variable, f"fac-x402fac-{deployment}", None))
    return found


@pytest.mark.parametrize(
    ("variable", "deployment", "family"), cases(), ids=lambda x: x.name if isinstance(x, Variable) else None
)
def test_every_setting_is_settable_from_values(chart, variable, deployment, family):  # noqa: F811
    values = merged(EXTERNAL_NATS)
    name = variable.name
    path = variable.values.replace("{family}", family or "")
    if variable.secret:
        set_path(values, path, "my-secret")
        expected: object = {"name": "my-secret", "key": None}
    elif "networks[]." in path:
        key = path.rsplit(".", 1)[1]
        chosen, expected = sample(variable, key, family)
        entry = {**NETWORK[family], "rpcUrls": ["https://node.example/rpc"], key: chosen}
        set_path(values, f"workers.{family}.networks", [entry])
        name = variable.named(NET_NAME[family]).name
    else:
        chosen, expected = sample(variable, path.rsplit(".", 1)[-1], family)
        set_path(values, path, chosen)
    docs, _ = render(chart, values)

    env = environment(docs, deployment)
    assert name in env, f"{name} (value {path}) is not in {deployment}'s environment"
    if variable.secret:
        assert env[name]["name"] == "my-secret"
    else:
        assert str(env[name]) == expected


def test_the_catalogue_covers_every_documented_variable():
    """The README and the network docs name no variable the settings do not know (and the reverse)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    text = (root / "README.md").read_text() + "".join(
        p.read_text() for p in sorted((root / "docs" / "networks").glob("*.md"))
    )
    documented = set(re.findall(r"`(X402FAC_[A-Z0-9_]+)`", text))
    known = {v.name for v in catalogue()}
    patterns = [re.compile(v.name.replace("{net}", "[A-Z0-9_]+") + "$") for v in catalogue()]
    unknown = {n for n in documented if n not in known and not any(p.match(n) for p in patterns)}
    assert unknown <= {"X402FAC_WORK"}, unknown
