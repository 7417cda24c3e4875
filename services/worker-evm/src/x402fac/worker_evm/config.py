"""EVM networks the worker serves, from X402FAC_EVM_* variables or, by default, the local devnet.

Environment (the naming scheme every worker shares, see x402fac.worker.config; a network is served when
its RPC URLs are set; the `<NET>` part is the chain id, e.g. 8453 for eip155:8453):

    X402FAC_EVM_<CHAIN_ID>_RPC_URLS         comma list, in order of preference (failover)
    X402FAC_EVM_SIGNER_KEYS                 facilitator private keys (comma list) for every network ...
    X402FAC_EVM_<CHAIN_ID>_SIGNER_KEYS      ... or for one network (wins)
    X402FAC_EVM_<CHAIN_ID>_CONFIRMATIONS    blocks on top of the receipt's (default 1 = mined)
    X402FAC_EVM_<CHAIN_ID>_GAS_LIMIT        upper bound of a settlement's gas (default 300000)
    X402FAC_EVM_<CHAIN_ID>_ASSET, _ASSET_NAME, _ASSET_VERSION   the default USDC advertised in
                                            /supported (known for Base, Base Sepolia, Ethereum, Avalanche)
    X402FAC_EVM_<CHAIN_ID>_ALLOWED_ASSETS   comma list; when set, only these tokens are accepted
                                            (otherwise any EIP-3009 token named in the requirements)
    X402FAC_EVM_RPC_TIMEOUT                 seconds per RPC request (default 10)
    X402FAC_EVM_CONFIRM_POLL                seconds between receipt polls (default 0.075)

With no X402FAC_EVM_*_RPC_URLS set, the worker serves the devnet described by
`$X402FAC_DATA_DIR/devnet-evm.json` (default data dir `.x402fac`); with neither, it does not start
(`ConfigError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from x402fac.worker.config import (
    ConfigError,
    environ,
    from_devnet_info,
    get_float,
    get_int,
    get_list,
    rpc_url_networks,
)

from .eip3009 import is_address

FAMILY = "evm"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    address: str
    name: str
    version: str


# Circle's USDC deployments (EIP-712 name differs between mainnets and testnets).
KNOWN_USDC: dict[int, TokenInfo] = {
    8453: TokenInfo("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "USD Coin", "2"),
    84532: TokenInfo("0x036CbD53842c5426634e7929541eC2318f3dCF7e", "USDC", "2"),
    1: TokenInfo("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "USD Coin", "2"),
    43114: TokenInfo("0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E", "USD Coin", "2"),
}


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    network: str  # CAIP-2
    chain_id: int
    rpc_urls: tuple[str, ...]
    signer_keys: tuple[str, ...]
    default_asset: TokenInfo | None = None
    allowed_assets: frozenset[str] | None = None  # lower-case addresses
    confirmations: int = 1
    gas_limit: int = 300_000
    gas_margin_percent: int = 25
    receipt_poll_interval: float = 0.075
    rpc_timeout: float = 10.0


def _network_from_env(env: Mapping[str, str], net: str, urls: tuple[str, ...]) -> NetworkConfig:
    prefix = f"X402FAC_EVM_{net}_"
    if not net.isdigit():
        raise ConfigError(
            f"{prefix}RPC_URLS: the network must be a chain id, as in X402FAC_EVM_8453_RPC_URLS"
        )
    chain_id = int(net)
    network = f"eip155:{chain_id}"
    keys = get_list(env, prefix + "SIGNER_KEYS") or get_list(env, "X402FAC_EVM_SIGNER_KEYS")
    if not keys:
        raise ConfigError(f"no signer key for {network}: set {prefix}SIGNER_KEYS or X402FAC_EVM_SIGNER_KEYS")
    asset = KNOWN_USDC.get(chain_id)
    address = env.get(prefix + "ASSET", "").strip()
    if address:
        if not is_address(address):
            raise ConfigError(f"{prefix}ASSET is not an address: {address!r}")
        asset = TokenInfo(
            address, env.get(prefix + "ASSET_NAME", "USD Coin"), env.get(prefix + "ASSET_VERSION", "2")
        )
    allowed = get_list(env, prefix + "ALLOWED_ASSETS")
    if any(not is_address(a) for a in allowed):
        raise ConfigError(f"{prefix}ALLOWED_ASSETS holds something that is not an address")
    return NetworkConfig(
        network=network,
        chain_id=chain_id,
        rpc_urls=urls,
        signer_keys=keys,
        default_asset=asset,
        allowed_assets=frozenset(a.lower() for a in allowed) if allowed else None,
        confirmations=get_int(env, prefix + "CONFIRMATIONS", 1, minimum=1),
        gas_limit=get_int(env, prefix + "GAS_LIMIT", 300_000, minimum=21_000),
        receipt_poll_interval=get_float(env, "X402FAC_EVM_CONFIRM_POLL", 0.075),
        rpc_timeout=get_float(env, "X402FAC_EVM_RPC_TIMEOUT", 10.0),
    )


def network_from_devnet(info: Mapping[str, Any]) -> NetworkConfig:
    """The network described by a devnet-evm.json (see x402fac.devnet.evm)."""
    usdc = info["usdc"]
    return NetworkConfig(
        network=info["network"],
        chain_id=int(info["chainId"]),
        rpc_urls=(info["rpcUrl"],),
        signer_keys=tuple(f["privateKey"] for f in info["facilitators"]),
        default_asset=TokenInfo(usdc["address"], usdc["name"], usdc["version"]),
    )


def load_networks(env: Mapping[str, str] | None = None) -> list[NetworkConfig]:
    env = environ(env)
    networks = [_network_from_env(env, net, urls) for net, urls in rpc_url_networks(env, FAMILY).items()]
    if networks:
        return networks
    devnet = from_devnet_info(env, FAMILY, network_from_devnet)
    return [
        replace(
            devnet,
            receipt_poll_interval=get_float(env, "X402FAC_EVM_CONFIRM_POLL", 0.075),
            rpc_timeout=get_float(env, "X402FAC_EVM_RPC_TIMEOUT", 10.0),
        )
    ]
