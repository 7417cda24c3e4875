"""The whole settings catalogue: every variable any service reads (x402fac.settings), and
the local-run ones of `x402fac run`. `x402fac settings` prints it; the chart test sets each one from
its Helm value."""

from dataclasses import dataclass

from x402fac.devnet.settings import DevnetSettings
from x402fac.gateway.config import GatewayConfig
from x402fac.ledger.config import LedgerConfig
from x402fac.settings import PipelineSettings, ServiceSettings, Variable, setting, variables
from x402fac.worker_evm import config as evm
from x402fac.worker_nano import config as nano
from x402fac.worker_solana import config as solana

# Each family: the whole worker's settings, then one network's (`{net}` in their names).
FAMILY_SETTINGS = {
    "nano": (nano.NanoConfig, nano.NanoNetworkSettings),
    "evm": (evm.EvmConfig, evm.EvmNetworkSettings),
    "solana": (solana.SolanaConfig, solana.SolanaNetworkSettings),
}


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


def catalogue() -> list[Variable]:
    """Every variable, once; per-network ones with `{net}` in their name."""
    found = [
        *variables(ServiceSettings),
        *variables(PipelineSettings),
        *variables(GatewayConfig),
        *variables(LedgerConfig),
    ]
    for classes in FAMILY_SETTINGS.values():
        found += [variable for cls in classes for variable in variables(cls)]
    return [*found, *variables(RunSettings), *variables(DevnetSettings)]


def describe() -> str:
    """The catalogue as a table: variable, default, Helm value."""
    rows = [
        f"{v.name:<48} {'(secret)' if v.secret else repr(v.default):<14} {v.values or '(x402fac run only)'}"
        for v in catalogue()
    ]
    return "\n".join(rows)
