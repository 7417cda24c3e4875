"""Which Solana networks this worker serves, their RPC endpoints, fee-payer keys, accepted mints and
the limits on what a payment may cost us.

The naming scheme every worker shares (x402fac.worker.config): a network is served when its RPC URLs
are set, and `{net}` is MAINNET, DEVNET or TESTNET, or any other name together with its genesis hash.
The variables are the settings of `SolanaConfig` (the whole worker) and `SolanaNetworkSettings` (one
network) below; the fee-payer keys and the limits also exist worker-wide, without `{net}_`: the default
of every network without its own. The reference is `x402fac settings --markdown` (docs/settings.md).

With no X402FAC_SOLANA_*_RPC_URLS set, the worker serves the devnet described by
`$X402FAC_DATA_DIR/devnet-solana.json` (default data dir `.x402fac`), accepting its USDC, under the
worker-wide limits; with neither, it does not start (`SettingsError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from x402fac.settings import FamilySettings, SettingsError, environ, load, source
from x402fac.solana import LAMPORTS_PER_SIGNATURE
from x402fac.worker.config import ANY_ASSET, WorkerConfig, from_devnet_info, get_minimums, rpc_url_networks

FAMILY = "solana"
SOLANA = FamilySettings(FAMILY)
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
MAX_COMPUTE_UNIT_PRICE = 5_000_000  # micro-lamports, the official scheme's cap
# The exact scheme measured on the devnet (SPL Token TransferChecked + a 32-character memo, the
# official client's layout) uses 19,248 units of the 20,000 the official client requests; Token-2022
# and longer memos need more. Twice the official limit leaves that margin.
MAX_COMPUTE_UNIT_LIMIT = 40_000
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
class SolanaNetworkSettings:
    """What one network reads (`{net}`: its name); a network entry of the chart sets each by its key.
    The fee-payer keys and the limits fall back to their worker-wide twins."""

    rpc_urls: tuple[str, ...] = SOLANA.rpc_urls("the network")
    genesis_hash: str = SOLANA.network(
        "GENESIS_HASH",
        "",
        doc="genesis hash of a network other than MAINNET, DEVNET, TESTNET; its CAIP-2 id is "
        "solana:<first 32 characters>",
    )
    fee_payer_keys: tuple[str, ...] = SOLANA.network(
        "FEE_PAYER_KEYS",
        (),
        worker_wide={"values": "workers.solana.feePayers.existingSecret", "secret": True},
        doc="base58 64-byte fee-payer keypairs (comma list)",
    )
    allowed_assets: tuple[str, ...] = SOLANA.allowed_assets(
        "mint allowlist",
        "any Token / Token-2022 mint",
        "; unset: USDC on MAINNET and DEVNET, the devnet file's USDC, required elsewhere",
    )
    min_amount: tuple[str, ...] = SOLANA.min_amount("mint", worker_wide=True)
    max_compute_unit_price: int = SOLANA.network(
        "MAX_COMPUTE_UNIT_PRICE",
        MAX_COMPUTE_UNIT_PRICE,
        minimum=0,
        worker_wide=True,
        doc="micro-lamports per compute unit a payment may bid (the official scheme's cap)",
    )
    max_compute_unit_limit: int = SOLANA.network(
        "MAX_COMPUTE_UNIT_LIMIT",
        MAX_COMPUTE_UNIT_LIMIT,
        minimum=1,
        worker_wide=True,
        doc="compute units a payment may request; without SetComputeUnitLimit the runtime's 200000 per "
        "instruction counts",
    )
    max_fee_lamports: int = SOLANA.network(
        "MAX_FEE_LAMPORTS",
        MAX_FEE_LAMPORTS,
        minimum=0,
        worker_wide=True,
        doc="most we pay per settlement: 5000 lamports per signature plus price x limit / 1e6 (by "
        "default two signatures and the official 20000-unit limit at the top price)",
    )
    allowed_mint_extensions: tuple[str, ...] = SOLANA.network(
        "ALLOWED_MINT_EXTENSIONS",
        (),
        worker_wide=True,
        doc="Token-2022 extensions accepted although they can take a cut or move funds back (comma list "
        "of " + ", ".join(MINT_EXTENSIONS) + ")",
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
class SolanaConfig(WorkerConfig[SolanaNetworkConfig]):
    rpc_timeout: float = SOLANA.rpc_timeout()
    confirm_poll: float = SOLANA.confirm_poll(
        0.2, "signature-status polls (one batched `getSignatureStatuses` for every settle waiting)"
    )


def _fee_payers(
    env: Mapping[str, str], settings: SolanaNetworkSettings, net: str | None
) -> tuple[Keypair, ...]:
    try:
        return tuple(Keypair.from_base58_string(secret) for secret in settings.fee_payer_keys)
    except ValueError:
        name = source(SolanaNetworkSettings, "fee_payer_keys", env, net=net)
        raise SettingsError(f"{name} holds a key that is not a base58 64-byte keypair") from None


def _address(name: str, value: str) -> str:
    try:
        return str(Pubkey.from_string(value))
    except ValueError:
        raise SettingsError(f"{name} holds {value!r}, which is not a Solana address") from None


def _assets(env: Mapping[str, str], settings: SolanaNetworkSettings, net: str) -> frozenset[str] | None:
    name = source(SolanaNetworkSettings, "allowed_assets", env, net=net)
    listed = settings.allowed_assets
    if listed == (ANY_ASSET,):
        return None
    if listed:
        return frozenset(_address(name, mint) for mint in listed)
    if net in USDC:
        return frozenset({USDC[net]})
    raise SettingsError(f"{name} is needed for network {net}: its accepted mints, or '{ANY_ASSET}'")


def _limits(env: Mapping[str, str], settings: SolanaNetworkSettings, net: str | None) -> Limits:
    minimum_name = source(SolanaNetworkSettings, "min_amount", env, net=net)
    min_amount, by_asset = get_minimums(
        settings.min_amount, minimum_name, lambda mint: _address(minimum_name, mint)
    )
    extensions = frozenset(settings.allowed_mint_extensions)
    unknown = extensions - set(MINT_EXTENSIONS)
    if unknown:
        name = source(SolanaNetworkSettings, "allowed_mint_extensions", env, net=net)
        raise SettingsError(
            f"{name} names unknown extensions {sorted(unknown)}; known: {', '.join(MINT_EXTENSIONS)}"
        )
    return Limits(
        min_amount=min_amount,
        min_amount_by_asset=by_asset,
        max_compute_unit_price=settings.max_compute_unit_price,
        max_compute_unit_limit=settings.max_compute_unit_limit,
        max_fee_lamports=settings.max_fee_lamports,
        allowed_mint_extensions=extensions,
    )


def _network(env: Mapping[str, str], net: str, urls: tuple[str, ...]) -> SolanaNetworkConfig:
    settings = load(SolanaNetworkSettings, env, net=net)
    prefix = f"X402FAC_SOLANA_{net}_"
    genesis = settings.genesis_hash
    network = f"solana:{genesis[:32]}" if genesis else KNOWN_NETWORKS.get(net)
    if network is None:
        raise SettingsError(f"{prefix}GENESIS_HASH is needed for a network named {net}")
    keys = _fee_payers(env, settings, net)
    if not keys:
        raise SettingsError(
            f"no fee-payer key for {network}: set {prefix}FEE_PAYER_KEYS or X402FAC_SOLANA_FEE_PAYER_KEYS"
        )
    return SolanaNetworkConfig(network, urls, keys, _assets(env, settings, net), _limits(env, settings, net))


def load_config(env: Mapping[str, str] | None = None) -> SolanaConfig:
    env = environ(env)
    worker_wide = load(SolanaNetworkSettings, env)  # no network: the worker-wide twins alone
    _fee_payers(env, worker_wide, None)  # a malformed shared key stops the worker, used or not
    networks = tuple(_network(env, net, urls) for net, urls in rpc_url_networks(env, FAMILY).items()) or (
        replace(from_devnet_info(env, FAMILY, network_from_devnet), limits=_limits(env, worker_wide, None)),
    )
    return load(SolanaConfig, env, networks=networks)


def network_from_devnet(info: Mapping[str, Any]) -> SolanaNetworkConfig:
    """The network a devnet's info (devnet-solana.json) describes: its fee-payer keys, its USDC."""
    return SolanaNetworkConfig(
        network=info["network"],
        rpc_urls=(info["rpc_url"],),
        fee_payers=tuple(Keypair.from_base58_string(entry["secret"]) for entry in info["fee_payers"]),
        assets=frozenset({info["usdc"]["mint"]}),
    )
