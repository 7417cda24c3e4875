"""The whole settings catalogue: every variable any service reads (x402fac.settings), and the
local-run ones of `x402fac run`. `x402fac settings` prints it; `--markdown` writes the reference
(docs/settings.md, which a test keeps equal to it); the chart test sets each one from its Helm value."""

from dataclasses import dataclass

from x402fac.devnet.settings import DevnetSettings
from x402fac.gateway.config import GatewayConfig
from x402fac.ledger.config import LedgerConfig
from x402fac.settings import (
    PipelineSettings,
    ServiceSettings,
    Variable,
    declarations,
    setting,
    variables,
)
from x402fac.worker_evm import config as evm
from x402fac.worker_nano import config as nano
from x402fac.worker_solana import config as solana


@dataclass(frozen=True, slots=True)
class RunSettings:
    """`x402fac run` only (the local stack): no Helm value."""

    nats_port: int = setting(
        "X402FAC_NATS_PORT",
        4222,
        values=None,
        minimum=1,
        maximum=65535,
        doc="port of the embedded nats-server",
    )
    prometheus: bool = setting(
        "X402FAC_RUN_PROMETHEUS",
        False,
        values=None,
        doc="also start Prometheus (when installed) scraping the stack, with the alert rules loaded",
    )
    prometheus_port: int = setting(
        "X402FAC_PROMETHEUS_PORT", 9090, values=None, minimum=1, maximum=65535, doc="its HTTP port"
    )


NETWORKS = (
    "A network is served when its RPC URLs are set; with none, the worker serves the devnet described by "
    "`$X402FAC_DATA_DIR/devnet-{family}.json`. A per-network Helm value is a key of an entry of "
    "`workers.{family}.networks`."
)
# (title, what it covers, the settings classes): the catalogue in the reference's order. A family lists
# its whole worker's settings, then one network's (`{net}` in their names).
SECTIONS: tuple[tuple[str, str, tuple[type, ...]], ...] = (
    ("Every service", "The gateway, the ledger and every worker.", (ServiceSettings,)),
    (
        "Every worker",
        "The settle pipeline every worker family shares (`<family>` in the Helm value).",
        (PipelineSettings,),
    ),
    ("Gateway", "The HTTP service.", (GatewayConfig,)),
    ("Ledger", "Records, claims, limits, API keys, usage, the whitelist.", (LedgerConfig,)),
    (
        "Nano worker",
        "`<NET>` is the network's CAIP-2 reference upper-cased: `MAINNET` for `nano:mainnet`, `BETA`, "
        "`DEVNET`. " + NETWORKS.format(family="nano"),
        (nano.NanoConfig, nano.NanoNetworkSettings),
    ),
    (
        "EVM worker",
        "`<NET>` is the chain id: `8453` for `eip155:8453`. " + NETWORKS.format(family="evm"),
        (evm.EvmConfig, evm.EvmNetworkSettings),
    ),
    (
        "Solana worker",
        "`<NET>` is `MAINNET`, `DEVNET`, `TESTNET`, or any other name together with its genesis hash. "
        + NETWORKS.format(family="solana"),
        (solana.SolanaConfig, solana.SolanaNetworkSettings),
    ),
    ("Local stack", "`x402fac run` only: no Helm value.", (RunSettings,)),
    ("Devnets", "`x402fac devnet` and `x402fac run`.", (DevnetSettings,)),
)


def catalogue() -> list[Variable]:
    """Every variable, per-network ones with `{net}` in their name (one read by two services, as the
    admin token, once per service)."""
    return [variable for _, _, classes in SECTIONS for cls in classes for variable in variables(cls)]


def describe() -> str:
    """The catalogue as a table: variable, default, Helm value."""
    rows = [
        f"{v.name:<48} {'(secret)' if v.secret else repr(v.default):<14} {v.values or '(x402fac run only)'}"
        for v in catalogue()
    ]
    return "\n".join(rows)


def _default(variable: Variable) -> str:
    value = variable.default
    if variable.secret:
        return "(secret)"
    if isinstance(value, bool):
        return f"`{int(value)}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, tuple):
        value = ",".join(value)
    return f"`{value}`" if value != "" else "empty"


def _cell(text: str) -> str:
    """A table cell: `|` escaped, and `<` outside code spans (`worker-<family>` is no HTML tag)."""
    parts = text.replace("|", "\\|").split("`")
    return "`".join(part if i % 2 else part.replace("<", "\\<") for i, part in enumerate(parts))


def _row(variable: Variable, doc: str) -> str:
    name = variable.name.replace("{net}", "<NET>")
    values = f"`{variable.values.replace('{family}', '<family>')}`" if variable.values else "—"
    return f"| `{name}` | {_default(variable)} | {values} | {_cell(doc)} |"


def markdown() -> str:
    """The reference: one table per section (variable, default, Helm value, meaning)."""
    lines = [
        "# Settings",
        "",
        "Every `X402FAC_*` variable the services read, generated from the settings catalogue by "
        "`x402fac settings --markdown` (a test fails while this file differs: regenerate it, do not edit "
        "it). Each is read and checked at start-up: a bad value stops the service with a message naming "
        "the variable; a blank value is the default. The Helm value is the key of "
        "`k8s/x402fac/values.yaml` that sets the variable.",
    ]
    for title, about, classes in SECTIONS:
        lines += ["", f"## {title}", "", about, "", "| variable | default | Helm value | meaning |"]
        lines.append("|---|---|---|---|")
        for cls in classes:
            for variable, twin in declarations(cls):
                lines.append(_row(variable, variable.doc))
                if twin is not None:
                    own = variable.name.replace("{net}", "<NET>")
                    lines.append(_row(twin, f"every network's, unless it sets its own `{own}`"))
    return "\n".join(lines) + "\n"
