"""EVM networks the worker serves, from X402FAC_EVM_* variables or, by default, the local devnet.

    X402FAC_EVM_NETWORKS              comma list of CAIP-2 ids (or v1 names): eip155:8453,base-sepolia
    X402FAC_EVM_SIGNER_KEYS           facilitator private keys (comma list) for every network ...
    X402FAC_EVM_<CHAIN_ID>_SIGNER_KEYS  ... or for one network
    X402FAC_EVM_<CHAIN_ID>_RPC_URLS   comma list, in order of preference (failover)      [required]
    X402FAC_EVM_<CHAIN_ID>_CONFIRMATIONS   blocks on top of the receipt's (default 1 = mined)
    X402FAC_EVM_<CHAIN_ID>_GAS_LIMIT  upper bound of a settlement's gas (default 300000)
    X402FAC_EVM_<CHAIN_ID>_ASSET, _ASSET_NAME, _ASSET_VERSION   the default USDC advertised in
                                      /supported (known for Base, Base Sepolia, Ethereum, Avalanche)
    X402FAC_EVM_<CHAIN_ID>_ALLOWED_ASSETS  comma list; when set, only these tokens are accepted
                                      (otherwise any EIP-3009 token named in the requirements)

Without X402FAC_EVM_NETWORKS, `$X402FAC_DATA_DIR/devnet-evm.json` (default `.x402fac/`) is served
when it exists.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from x402fac.protocol import to_caip2

from .eip3009 import is_address


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


class ConfigError(ValueError):
    pass


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


def _list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}")
    return value


def chain_id_of(network: str) -> int:
    namespace, _, reference = network.partition(":")
    if namespace != "eip155" or not reference.isdigit():
        raise ConfigError(f"{network!r} is not an eip155 CAIP-2 network")
    return int(reference)


def _network_from_env(env: Mapping[str, str], name: str) -> NetworkConfig:
    network = to_caip2(name)
    chain_id = chain_id_of(network)
    prefix = f"X402FAC_EVM_{chain_id}_"
    urls = _list(env.get(prefix + "RPC_URLS"))
    if not urls:
        raise ConfigError(f"{prefix}RPC_URLS is required for {network}")
    keys = _list(env.get(prefix + "SIGNER_KEYS") or env.get("X402FAC_EVM_SIGNER_KEYS"))
    if not keys:
        raise ConfigError(f"no signer key for {network}: set {prefix}SIGNER_KEYS or X402FAC_EVM_SIGNER_KEYS")
    asset = KNOWN_USDC.get(chain_id)
    if env.get(prefix + "ASSET"):
        address = env[prefix + "ASSET"]
        if not is_address(address):
            raise ConfigError(f"{prefix}ASSET is not an address")
        asset = TokenInfo(
            address, env.get(prefix + "ASSET_NAME", "USD Coin"), env.get(prefix + "ASSET_VERSION", "2")
        )
    allowed = _list(env.get(prefix + "ALLOWED_ASSETS"))
    if any(not is_address(a) for a in allowed):
        raise ConfigError(f"{prefix}ALLOWED_ASSETS holds something that is not an address")
    return NetworkConfig(
        network=network,
        chain_id=chain_id,
        rpc_urls=tuple(urls),
        signer_keys=tuple(keys),
        default_asset=asset,
        allowed_assets=frozenset(a.lower() for a in allowed) if allowed else None,
        confirmations=_int(env, prefix + "CONFIRMATIONS", 1, 1),
        gas_limit=_int(env, prefix + "GAS_LIMIT", 300_000, 21_000),
    )


def network_from_devnet(info: dict) -> NetworkConfig:
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
    env = os.environ if env is None else env
    names = _list(env.get("X402FAC_EVM_NETWORKS"))
    if names:
        return [_network_from_env(env, name) for name in names]
    info_path = Path(env.get("X402FAC_DATA_DIR") or ".x402fac") / "devnet-evm.json"
    if info_path.is_file():
        return [network_from_devnet(json.loads(info_path.read_text()))]
    raise ConfigError(
        f"no EVM network configured: set X402FAC_EVM_NETWORKS or start the devnet ({info_path})"
    )
