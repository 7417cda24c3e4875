"""Which Solana networks this worker serves, their RPC endpoints, fee-payer keys and accepted mints.

Environment (the naming scheme every worker shares, see x402fac.worker.config; a network is served when
its RPC URLs are set; `<NET>` is MAINNET, DEVNET or TESTNET, or any other name together with its genesis
hash):

    X402FAC_SOLANA_<NET>_RPC_URLS         comma-separated RPC URLs, tried in order (failover)
    X402FAC_SOLANA_<NET>_GENESIS_HASH     genesis hash of a network not named above; its CAIP-2 id
                                          is solana:<first 32 characters>
    X402FAC_SOLANA_<NET>_FEE_PAYER_KEYS   comma-separated base58 64-byte keypairs for that network
    X402FAC_SOLANA_FEE_PAYER_KEYS         fee-payer keypairs for every network without its own
    X402FAC_SOLANA_<NET>_ALLOWED_ASSETS   comma-separated mint allowlist (default: any SPL Token or
                                          Token-2022 mint)
    X402FAC_SOLANA_MAX_COMPUTE_UNIT_PRICE micro-lamports per compute unit a payment may bid
                                          (default 5000000, the official scheme's cap)
    X402FAC_SOLANA_RPC_TIMEOUT            seconds per RPC request (default 10)
    X402FAC_SOLANA_CONFIRM_POLL           seconds between signature-status polls (default 0.2)

With no X402FAC_SOLANA_*_RPC_URLS set, the worker serves the devnet described by
`$X402FAC_DATA_DIR/devnet-solana.json` (default data dir `.x402fac`); with neither, it does not start
(`ConfigError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from solders.keypair import Keypair

from x402fac.worker.config import (
    ConfigError,
    environ,
    from_devnet_info,
    get_float,
    get_int,
    get_list,
    rpc_url_networks,
)

FAMILY = "solana"
KNOWN_NETWORKS = {
    "MAINNET": "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
    "DEVNET": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
    "TESTNET": "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z",
}
MAX_COMPUTE_UNIT_PRICE = 5_000_000


@dataclass(frozen=True, slots=True)
class SolanaNetwork:
    network: str  # CAIP-2, e.g. "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
    rpc_urls: tuple[str, ...]
    fee_payers: tuple[Keypair, ...]
    assets: frozenset[str] | None = None  # None: any Token / Token-2022 mint

    @property
    def fee_payer_addresses(self) -> list[str]:
        return [str(k.pubkey()) for k in self.fee_payers]


@dataclass(frozen=True, slots=True)
class SolanaConfig:
    networks: tuple[SolanaNetwork, ...]
    max_compute_unit_price: int = MAX_COMPUTE_UNIT_PRICE
    rpc_timeout: float = 10.0
    confirm_poll: float = 0.2


def _keys(env: Mapping[str, str], name: str) -> tuple[Keypair, ...]:
    try:
        return tuple(Keypair.from_base58_string(secret) for secret in get_list(env, name))
    except ValueError:
        raise ConfigError(f"{name} holds a key that is not a base58 64-byte keypair") from None


def _network(
    env: Mapping[str, str], net: str, urls: tuple[str, ...], shared_keys: tuple[Keypair, ...]
) -> SolanaNetwork:
    prefix = f"X402FAC_SOLANA_{net}_"
    genesis = env.get(prefix + "GENESIS_HASH", "").strip()
    network = f"solana:{genesis[:32]}" if genesis else KNOWN_NETWORKS.get(net)
    if network is None:
        raise ConfigError(f"{prefix}GENESIS_HASH is needed for a network named {net}")
    keys = _keys(env, prefix + "FEE_PAYER_KEYS") or shared_keys
    if not keys:
        raise ConfigError(
            f"no fee-payer key for {network}: set {prefix}FEE_PAYER_KEYS or X402FAC_SOLANA_FEE_PAYER_KEYS"
        )
    assets = get_list(env, prefix + "ALLOWED_ASSETS")
    return SolanaNetwork(network, urls, keys, frozenset(assets) if assets else None)


def load_config(env: Mapping[str, str] | None = None) -> SolanaConfig:
    env = environ(env)
    shared_keys = _keys(env, "X402FAC_SOLANA_FEE_PAYER_KEYS")
    networks = tuple(
        _network(env, net, urls, shared_keys) for net, urls in rpc_url_networks(env, FAMILY).items()
    ) or (from_devnet_info(env, FAMILY, network_from_info),)
    return SolanaConfig(
        networks=networks,
        max_compute_unit_price=get_int(
            env, "X402FAC_SOLANA_MAX_COMPUTE_UNIT_PRICE", MAX_COMPUTE_UNIT_PRICE, minimum=0
        ),
        rpc_timeout=get_float(env, "X402FAC_SOLANA_RPC_TIMEOUT", 10.0),
        confirm_poll=get_float(env, "X402FAC_SOLANA_CONFIRM_POLL", 0.2),
    )


def network_from_info(info: Mapping[str, Any]) -> SolanaNetwork:
    """The network a devnet's info (devnet-solana.json) describes, served with its fee-payer keys."""
    return SolanaNetwork(
        network=info["network"],
        rpc_urls=(info["rpc_url"],),
        fee_payers=tuple(Keypair.from_base58_string(entry["secret"]) for entry in info["fee_payers"]),
    )
