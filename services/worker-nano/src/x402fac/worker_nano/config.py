"""Which Nano networks this worker serves, where their nodes are, and the work each demands.

The naming scheme every worker shares (x402fac.worker.config): a network is served when its RPC URLs
are set, and `{net}` is its CAIP-2 reference upper-cased (MAINNET for nano:mainnet, DEVNET for
nano:devnet, BETA for nano:beta). The variables are the settings of `NanoConfig` (the whole worker) and
`NanoNetworkSettings` (one network) below; the reference is `x402fac settings --markdown`
(docs/settings.md).

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
from x402fac.settings import FamilySettings, SettingsError, environ, load, source
from x402fac.worker.config import WorkerConfig, from_devnet_info, rpc_url_networks

FAMILY = "nano"
NANO = FamilySettings(FAMILY)


@dataclass(frozen=True, slots=True)
class NanoNetworkSettings:
    """What one network reads (`{net}`: its CAIP-2 reference upper-cased); a network entry of the chart
    sets each by its key."""

    rpc_urls: tuple[str, ...] = NANO.rpc_urls("nano:<net>")
    work_threshold: str = NANO.network(
        "WORK_THRESHOLD",
        format_work(MAINNET_SEND_THRESHOLD),
        doc="send-work threshold, 16 hex digits (mainnet's by default)",
    )
    min_amount: int = NANO.network(
        "MIN_AMOUNT",
        1,
        minimum=1,
        doc="smallest price (raw) a payment may carry, never 0 (`amount_below_minimum`)",
    )


NETWORK_DEFAULTS = NanoNetworkSettings()


@dataclass(frozen=True, slots=True)
class NanoNetworkConfig:
    network: str  # CAIP-2, e.g. "nano:mainnet"
    rpc_urls: tuple[str, ...]
    work_threshold: int = MAINNET_SEND_THRESHOLD
    min_amount: int = NETWORK_DEFAULTS.min_amount  # a worthless payment is refused whatever the server asks

    @property
    def work_threshold_hex(self) -> str:
        return format_work(self.work_threshold)


@dataclass(frozen=True, slots=True)
class NanoConfig(WorkerConfig[NanoNetworkConfig]):
    rpc_timeout: float = NANO.rpc_timeout()
    confirm_poll: float = NANO.confirm_poll(
        0.05, "confirmation polls (one batched `blocks_info` for every settle waiting)"
    )


def _network(env: Mapping[str, str], net: str, urls: tuple[str, ...]) -> NanoNetworkConfig:
    settings = load(NanoNetworkSettings, env, net=net)
    try:
        threshold = parse_threshold(settings.work_threshold)
    except WorkError:
        name = source(NanoNetworkSettings, "work_threshold", env, net=net)
        raise SettingsError(
            f"{name} must be 16 hex digits (e.g. fffffff800000000), got {settings.work_threshold!r}"
        ) from None
    return NanoNetworkConfig(f"nano:{net.lower()}", urls, threshold, settings.min_amount)


def _devnet(env: Mapping[str, str]) -> NanoNetworkConfig:
    """The devnet's network, with the minimum amount set for its CAIP-2 reference."""
    devnet = from_devnet_info(env, FAMILY, network_from_devnet)
    net = devnet.network.partition(":")[2].upper()
    return replace(devnet, min_amount=load(NanoNetworkSettings, env, net=net).min_amount)


def load_config(env: Mapping[str, str] | None = None) -> NanoConfig:
    env = environ(env)
    networks = tuple(_network(env, net, urls) for net, urls in rpc_url_networks(env, FAMILY).items()) or (
        _devnet(env),
    )
    return load(NanoConfig, env, networks=networks)


def network_from_devnet(info: Mapping[str, Any]) -> NanoNetworkConfig:
    """The network a devnet's info (devnet-nano.json, see x402fac.devnet.nano) describes."""
    return NanoNetworkConfig(
        network=info["network"],
        rpc_urls=(info["rpcUrl"],),
        work_threshold=parse_threshold(info["workThresholds"]["send"]),
    )
