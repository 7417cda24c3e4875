"""Which Nano networks this worker serves, where their nodes are, and the work each demands.

Environment (the naming scheme every worker shares, see x402fac.worker.config; a network is served when
its RPC URLs are set; `<NET>` is the CAIP-2 reference upper-cased, e.g. MAINNET for nano:mainnet,
DEVNET for nano:devnet, BETA for nano:beta):

    X402FAC_NANO_<NET>_RPC_URLS        comma-separated node RPC URLs, tried in order (failover)
    X402FAC_NANO_<NET>_WORK_THRESHOLD  hex send-work threshold (default: mainnet's fffffff800000000)
    X402FAC_NANO_<NET>_MIN_AMOUNT      smallest price in raw a payment may carry (default 1: never 0)
    X402FAC_NANO_RPC_TIMEOUT           seconds per RPC request (default 10)
    X402FAC_NANO_CONFIRM_POLL          seconds between confirmation polls (default 0.05)

With no X402FAC_NANO_*_RPC_URLS set, the worker serves the devnet described by
`$X402FAC_DATA_DIR/devnet-nano.json` (default data dir `.x402fac`; `_MIN_AMOUNT` applies to it too, by
its CAIP-2 reference, e.g. X402FAC_NANO_DEVNET_MIN_AMOUNT); with neither, it does not start
(`SettingsError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from x402fac.nano import MAINNET_SEND_THRESHOLD, WorkError, format_work, parse_threshold
from x402fac.settings import SettingsError, Variable, environ, get_float, get_int, network_variable
from x402fac.worker.config import from_devnet_info, rpc_url_networks

FAMILY = "nano"


@dataclass(frozen=True, slots=True)
class NanoNetworkConfig:
    network: str  # CAIP-2, e.g. "nano:mainnet"
    rpc_urls: tuple[str, ...]
    work_threshold: int = MAINNET_SEND_THRESHOLD
    min_amount: int = 1  # raw; a worthless payment is refused whatever the resource server asks

    @property
    def work_threshold_hex(self) -> str:
        return format_work(self.work_threshold)


@dataclass(frozen=True, slots=True)
class NanoConfig:
    networks: tuple[NanoNetworkConfig, ...]
    rpc_timeout: float = 10.0
    confirm_poll: float = 0.05


def _threshold(env: Mapping[str, str], name: str) -> int:
    text = env.get(name, "").strip()
    if not text:
        return MAINNET_SEND_THRESHOLD
    try:
        return parse_threshold(text)
    except WorkError:
        raise SettingsError(f"{name} must be 16 hex digits (e.g. fffffff800000000), got {text!r}") from None


def _with_policy(env: Mapping[str, str], config: NanoNetworkConfig) -> NanoNetworkConfig:
    """The network's minimum amount, named by its CAIP-2 reference (the devnet's too)."""
    net = config.network.partition(":")[2].upper()
    return replace(config, min_amount=get_int(env, f"X402FAC_NANO_{net}_MIN_AMOUNT", 1, minimum=1))


def load_config(env: Mapping[str, str] | None = None) -> NanoConfig:
    env = environ(env)
    networks = tuple(
        _with_policy(
            env,
            NanoNetworkConfig(
                f"nano:{net.lower()}", urls, _threshold(env, f"X402FAC_NANO_{net}_WORK_THRESHOLD")
            ),
        )
        for net, urls in rpc_url_networks(env, FAMILY).items()
    ) or (_with_policy(env, from_devnet_info(env, FAMILY, network_from_devnet)),)
    return NanoConfig(
        networks=networks,
        rpc_timeout=get_float(env, "X402FAC_NANO_RPC_TIMEOUT", 10.0),
        confirm_poll=get_float(env, "X402FAC_NANO_CONFIRM_POLL", 0.05),
    )


def network_from_devnet(info: Mapping[str, Any]) -> NanoNetworkConfig:
    """The network a devnet's info (devnet-nano.json, see x402fac.devnet.nano) describes."""
    return NanoNetworkConfig(
        network=info["network"],
        rpc_urls=(info["rpcUrl"],),
        work_threshold=parse_threshold(info["workThresholds"]["send"]),
    )


# Every variable load_config reads, for the settings catalogue (x402fac.cli.settings) and the chart.
WORKER_VARIABLES = (
    Variable("X402FAC_NANO_RPC_TIMEOUT", 10.0, "workers.nano.rpcTimeout", positive=True),
    Variable("X402FAC_NANO_CONFIRM_POLL", 0.05, "workers.nano.confirmPoll", positive=True),
)
NETWORK_VARIABLES = (
    network_variable(FAMILY, "RPC_URLS"),
    network_variable(FAMILY, "WORK_THRESHOLD", "fffffff800000000"),
    network_variable(FAMILY, "MIN_AMOUNT", 1, minimum=1),
)
