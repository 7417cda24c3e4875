"""Which Solana networks this worker serves, their RPC endpoints, fee-payer keys, accepted mints and
the limits on what a payment may cost us.

Environment (the naming scheme every worker shares, see x402fac.worker.config; a network is served when
its RPC URLs are set; `<NET>` is MAINNET, DEVNET or TESTNET, or any other name together with its genesis
hash). A per-network setting without a value falls back to the worker-wide one without `<NET>_`:

    X402FAC_SOLANA_<NET>_RPC_URLS         comma-separated RPC URLs, tried in order (failover)
    X402FAC_SOLANA_<NET>_GENESIS_HASH     genesis hash of a network not named above; its CAIP-2 id
                                          is solana:<first 32 characters>
    X402FAC_SOLANA_<NET>_FEE_PAYER_KEYS   comma-separated base58 64-byte keypairs for that network
    X402FAC_SOLANA_FEE_PAYER_KEYS         fee-payer keypairs for every network without its own
    X402FAC_SOLANA_<NET>_ALLOWED_ASSETS   comma-separated mint allowlist, or `any` (any Token /
                                          Token-2022 mint: an explicit opt-in). Default: USDC on
                                          MAINNET and DEVNET; required for any other network
    X402FAC_SOLANA_[<NET>_]MIN_AMOUNT     smallest `amount` accepted (atomic units, at least 1;
                                          default 1); `N,<mint>=M,...` sets it per mint too
    X402FAC_SOLANA_[<NET>_]MAX_COMPUTE_UNIT_PRICE  micro-lamports per compute unit a payment may bid
                                          (default 5000000, the official scheme's cap)
    X402FAC_SOLANA_[<NET>_]MAX_COMPUTE_UNIT_LIMIT  compute units a payment may request (default 40000;
                                          without SetComputeUnitLimit the runtime grants 200000 per
                                          instruction, and that is what counts)
    X402FAC_SOLANA_[<NET>_]MAX_FEE_LAMPORTS  most we pay per settlement: 5000 lamports per signature
                                          plus price x limit / 1e6 (default 110000: two signatures
                                          and the official 20000-unit limit at the top price)
    X402FAC_SOLANA_[<NET>_]ALLOWED_MINT_EXTENSIONS  Token-2022 extensions accepted although they can
                                          take a cut or move funds back (comma list of transfer_fee,
                                          transfer_hook, permanent_delegate, pausable,
                                          non_transferable, confidential_transfer; default none)
    X402FAC_SOLANA_RPC_TIMEOUT            seconds per RPC request (default 10)
    X402FAC_SOLANA_CONFIRM_POLL           seconds between signature-status polls (default 0.2)

With no X402FAC_SOLANA_*_RPC_URLS set, the worker serves the devnet described by
`$X402FAC_DATA_DIR/devnet-solana.json` (default data dir `.x402fac`), accepting its USDC under the
worker-wide limits; with neither, it does not start (`SettingsError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from x402fac.settings import (
    SettingsError,
    Variable,
    environ,
    get_float,
    get_int,
    get_list,
    network_variable,
)
from x402fac.worker.config import from_devnet_info, get_minimums, rpc_url_networks

FAMILY = "solana"
KNOWN_NETWORKS = {
    "MAINNET": "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
    "DEVNET": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
    "TESTNET": "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z",
}
# Circle's USDC: what a network serves when no allowlist is configured.
USDC = {
    "MAINNET": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
    "DEVNET": "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
}
ANY_ASSET = "any"
MAX_COMPUTE_UNIT_PRICE = 5_000_000  # micro-lamports, the official scheme's cap
# The exact scheme measured on the devnet (SPL Token TransferChecked + a 32-character memo, the
# official client's layout) uses 19,248 units of the 20,000 the official client requests; Token-2022
# and longer memos need more. Twice the official limit leaves that margin.
MAX_COMPUTE_UNIT_LIMIT = 40_000
LAMPORTS_PER_SIGNATURE = 5_000
MAX_FEE_LAMPORTS = 2 * LAMPORTS_PER_SIGNATURE + MAX_COMPUTE_UNIT_PRICE * 20_000 // 1_000_000
MINT_EXTENSIONS = (
    "transfer_fee",
    "transfer_hook",
    "permanent_delegate",
    "pausable",
    "non_transferable",
    "confidential_transfer",
)


@dataclass(frozen=True, slots=True)
class Limits:
    """What a payment on one network must respect so that it is worth settling and cheap for us."""

    min_amount: int = 1
    min_amount_by_asset: Mapping[str, int] = field(default_factory=dict)
    max_compute_unit_price: int = MAX_COMPUTE_UNIT_PRICE
    max_compute_unit_limit: int = MAX_COMPUTE_UNIT_LIMIT
    max_fee_lamports: int = MAX_FEE_LAMPORTS
    allowed_mint_extensions: frozenset[str] = frozenset()

    def min_amount_of(self, asset: str) -> int:
        return self.min_amount_by_asset.get(asset, self.min_amount)


@dataclass(frozen=True, slots=True)
class SolanaNetworkConfig:
    network: str  # CAIP-2, e.g. "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
    rpc_urls: tuple[str, ...]
    fee_payers: tuple[Keypair, ...]
    assets: frozenset[str] | None  # None: any Token / Token-2022 mint (explicit opt-in)
    limits: Limits = field(default_factory=Limits)

    @property
    def fee_payer_addresses(self) -> list[str]:
        return [str(k.pubkey()) for k in self.fee_payers]


@dataclass(frozen=True, slots=True)
class SolanaConfig:
    networks: tuple[SolanaNetworkConfig, ...]
    rpc_timeout: float = 10.0
    confirm_poll: float = 0.2


def _keys(env: Mapping[str, str], name: str) -> tuple[Keypair, ...]:
    try:
        return tuple(Keypair.from_base58_string(secret) for secret in get_list(env, name))
    except ValueError:
        raise SettingsError(f"{name} holds a key that is not a base58 64-byte keypair") from None


def _setting(env: Mapping[str, str], net: str | None, setting: str) -> str:
    """The variable that holds a setting for `net`: its own if set, else the worker-wide one."""
    own = f"X402FAC_SOLANA_{net}_{setting}"
    return own if net is not None and env.get(own, "").strip() else f"X402FAC_SOLANA_{setting}"


def _address(name: str, value: str) -> str:
    try:
        return str(Pubkey.from_string(value))
    except ValueError:
        raise SettingsError(f"{name} holds {value!r}, which is not a Solana address") from None


def _assets(env: Mapping[str, str], net: str) -> frozenset[str] | None:
    name = f"X402FAC_SOLANA_{net}_ALLOWED_ASSETS"
    listed = get_list(env, name)
    if listed == (ANY_ASSET,):
        return None
    if listed:
        return frozenset(_address(name, mint) for mint in listed)
    if net in USDC:
        return frozenset({USDC[net]})
    raise SettingsError(f"{name} is needed for network {net}: its accepted mints, or '{ANY_ASSET}'")


def _extensions(env: Mapping[str, str], name: str) -> frozenset[str]:
    names = frozenset(get_list(env, name))
    unknown = names - set(MINT_EXTENSIONS)
    if unknown:
        raise SettingsError(
            f"{name} names unknown extensions {sorted(unknown)}; known: {', '.join(MINT_EXTENSIONS)}"
        )
    return names


def _limits(env: Mapping[str, str], net: str | None) -> Limits:
    minimum_name = _setting(env, net, "MIN_AMOUNT")
    min_amount, by_asset = get_minimums(env, minimum_name, lambda mint: _address(minimum_name, mint))
    return Limits(
        min_amount=min_amount,
        min_amount_by_asset=by_asset,
        max_compute_unit_price=get_int(
            env, _setting(env, net, "MAX_COMPUTE_UNIT_PRICE"), MAX_COMPUTE_UNIT_PRICE, minimum=0
        ),
        max_compute_unit_limit=get_int(
            env, _setting(env, net, "MAX_COMPUTE_UNIT_LIMIT"), MAX_COMPUTE_UNIT_LIMIT, minimum=1
        ),
        max_fee_lamports=get_int(env, _setting(env, net, "MAX_FEE_LAMPORTS"), MAX_FEE_LAMPORTS, minimum=0),
        allowed_mint_extensions=_extensions(env, _setting(env, net, "ALLOWED_MINT_EXTENSIONS")),
    )


def _network(
    env: Mapping[str, str], net: str, urls: tuple[str, ...], shared_keys: tuple[Keypair, ...]
) -> SolanaNetworkConfig:
    prefix = f"X402FAC_SOLANA_{net}_"
    genesis = env.get(prefix + "GENESIS_HASH", "").strip()
    network = f"solana:{genesis[:32]}" if genesis else KNOWN_NETWORKS.get(net)
    if network is None:
        raise SettingsError(f"{prefix}GENESIS_HASH is needed for a network named {net}")
    keys = _keys(env, prefix + "FEE_PAYER_KEYS") or shared_keys
    if not keys:
        raise SettingsError(
            f"no fee-payer key for {network}: set {prefix}FEE_PAYER_KEYS or X402FAC_SOLANA_FEE_PAYER_KEYS"
        )
    return SolanaNetworkConfig(network, urls, keys, _assets(env, net), _limits(env, net))


def load_config(env: Mapping[str, str] | None = None) -> SolanaConfig:
    env = environ(env)
    shared_keys = _keys(env, "X402FAC_SOLANA_FEE_PAYER_KEYS")
    networks = tuple(
        _network(env, net, urls, shared_keys) for net, urls in rpc_url_networks(env, FAMILY).items()
    ) or (replace(from_devnet_info(env, FAMILY, network_from_devnet), limits=_limits(env, None)),)
    return SolanaConfig(
        networks=networks,
        rpc_timeout=get_float(env, "X402FAC_SOLANA_RPC_TIMEOUT", 10.0),
        confirm_poll=get_float(env, "X402FAC_SOLANA_CONFIRM_POLL", 0.2),
    )


def network_from_devnet(info: Mapping[str, Any]) -> SolanaNetworkConfig:
    """The network a devnet's info (devnet-solana.json) describes: its fee-payer keys, its USDC."""
    return SolanaNetworkConfig(
        network=info["network"],
        rpc_urls=(info["rpc_url"],),
        fee_payers=tuple(Keypair.from_base58_string(entry["secret"]) for entry in info["fee_payers"]),
        assets=frozenset({info["usdc"]["mint"]}),
    )


# Every variable load_config reads, for the settings catalogue (x402fac.cli.settings) and the chart.
# The limits exist worker-wide (the default of every network) and per network.
_LIMITS = (
    "MIN_AMOUNT",
    "MAX_COMPUTE_UNIT_PRICE",
    "MAX_COMPUTE_UNIT_LIMIT",
    "MAX_FEE_LAMPORTS",
    "ALLOWED_MINT_EXTENSIONS",
)
WORKER_VARIABLES = (
    Variable("X402FAC_SOLANA_RPC_TIMEOUT", 10.0, "workers.solana.rpcTimeout", positive=True),
    Variable("X402FAC_SOLANA_CONFIRM_POLL", 0.2, "workers.solana.confirmPoll", positive=True),
    Variable("X402FAC_SOLANA_FEE_PAYER_KEYS", (), "workers.solana.feePayers.existingSecret", secret=True),
    *(network_variable(FAMILY, limit).worker_wide() for limit in _LIMITS),
)
NETWORK_VARIABLES = tuple(
    network_variable(FAMILY, suffix)
    for suffix in ("RPC_URLS", "GENESIS_HASH", "FEE_PAYER_KEYS", "ALLOWED_ASSETS", *_LIMITS)
)
