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
    X402FAC_EVM_<CHAIN_ID>_ALLOWED_ASSETS   tokens settled besides the default asset (comma list), or
                                            `any`: any token that passes an on-chain EIP-3009 check
                                            (default: the default asset only; /supported lists them)
    X402FAC_EVM_<CHAIN_ID>_MIN_AMOUNT       smallest `amount` accepted, atomic units: `N` and/or
                                            `<token>=N` items (default 1, never 0)
    X402FAC_EVM_<CHAIN_ID>_MAX_SETTLE_COST_WEI  ceiling of gas limit * maxFeePerGas of a settlement;
                                            above it the settle is refused, nothing is sent (default 10**16)
    X402FAC_EVM_RPC_TIMEOUT                 seconds per RPC request (default 10)
    X402FAC_EVM_CONFIRM_POLL                seconds between receipt polls (default 0.075)

With no X402FAC_EVM_*_RPC_URLS set, the worker serves the devnet described by
`$X402FAC_DATA_DIR/devnet-evm.json` (default data dir `.x402fac`; the asset policy variables above
apply to it too, by its chain id); with neither, it does not start (`SettingsError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

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

from .eip3009 import is_address

FAMILY = "evm"
ANY_ASSET = "any"
DEFAULT_MAX_SETTLE_COST_WEI = 10**16  # 0.01 of the native coin: ~60k gas at 160 gwei


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
class EvmNetworkConfig:
    network: str  # CAIP-2
    chain_id: int
    rpc_urls: tuple[str, ...]
    signer_keys: tuple[str, ...]
    default_asset: TokenInfo | None = None
    allowed_assets: frozenset[str] = frozenset()  # lower-case addresses settled besides default_asset
    any_asset: bool = False  # also any token that passes the on-chain EIP-3009 check (explicit opt-in)
    min_amount: int = 1
    min_amount_by_asset: Mapping[str, int] = field(default_factory=dict)  # lower-case token -> minimum

    def min_amount_of(self, token: str) -> int:
        return self.min_amount_by_asset.get(token.lower(), self.min_amount)

    max_settle_cost_wei: int = DEFAULT_MAX_SETTLE_COST_WEI
    confirmations: int = 1
    gas_limit: int = 300_000
    gas_margin_percent: int = 25

    @property
    def listed_assets(self) -> frozenset[str]:
        """Lower-case addresses of the tokens listed in /supported: the default asset and the allowlist."""
        default = {self.default_asset.address.lower()} if self.default_asset else set()
        return self.allowed_assets | default


@dataclass(frozen=True, slots=True)
class EvmConfig:
    networks: tuple[EvmNetworkConfig, ...]
    rpc_timeout: float = 10.0
    confirm_poll: float = 0.075


def _network_from_env(env: Mapping[str, str], net: str, urls: tuple[str, ...]) -> EvmNetworkConfig:
    prefix = f"X402FAC_EVM_{net}_"
    if not net.isdigit():
        raise SettingsError(
            f"{prefix}RPC_URLS: the network must be a chain id, as in X402FAC_EVM_8453_RPC_URLS"
        )
    chain_id = int(net)
    network = f"eip155:{chain_id}"
    keys = get_list(env, prefix + "SIGNER_KEYS") or get_list(env, "X402FAC_EVM_SIGNER_KEYS")
    if not keys:
        raise SettingsError(
            f"no signer key for {network}: set {prefix}SIGNER_KEYS or X402FAC_EVM_SIGNER_KEYS"
        )
    asset = KNOWN_USDC.get(chain_id)
    address = env.get(prefix + "ASSET", "").strip()
    if address:
        if not is_address(address):
            raise SettingsError(f"{prefix}ASSET is not an address: {address!r}")
        asset = TokenInfo(
            address, env.get(prefix + "ASSET_NAME", "USD Coin"), env.get(prefix + "ASSET_VERSION", "2")
        )
    return _with_policy(
        env,
        EvmNetworkConfig(
            network=network,
            chain_id=chain_id,
            rpc_urls=urls,
            signer_keys=keys,
            default_asset=asset,
            confirmations=get_int(env, prefix + "CONFIRMATIONS", 1, minimum=1),
            gas_limit=get_int(env, prefix + "GAS_LIMIT", 300_000, minimum=21_000),
        ),
    )


def _with_policy(env: Mapping[str, str], config: EvmNetworkConfig) -> EvmNetworkConfig:
    """The network's asset allowlist, minimum amount and settlement cost ceiling."""
    prefix = f"X402FAC_EVM_{config.chain_id}_"
    listed = get_list(env, prefix + "ALLOWED_ASSETS")
    any_asset = [item.lower() for item in listed] == [ANY_ASSET]
    if not any_asset and any(not is_address(a) for a in listed):
        raise SettingsError(f"{prefix}ALLOWED_ASSETS must be token addresses (comma list) or `{ANY_ASSET}`")
    allowed = frozenset() if any_asset else frozenset(a.lower() for a in listed)
    if not (allowed or any_asset or config.default_asset):
        raise SettingsError(
            f"no asset to settle on {config.network}: set {prefix}ASSET (with _ASSET_NAME, _ASSET_VERSION)"
            f" or {prefix}ALLOWED_ASSETS"
        )
    minimum_name = prefix + "MIN_AMOUNT"

    def token(address: str) -> str:
        if not is_address(address):
            raise SettingsError(f"{minimum_name}: {address!r} is not a token address")
        return address.lower()

    minimum, by_asset = get_minimums(env, minimum_name, token)
    return replace(
        config,
        allowed_assets=allowed,
        any_asset=any_asset,
        min_amount=minimum,
        min_amount_by_asset=by_asset,
        max_settle_cost_wei=get_int(
            env, prefix + "MAX_SETTLE_COST_WEI", DEFAULT_MAX_SETTLE_COST_WEI, minimum=1
        ),
    )


def network_from_devnet(info: Mapping[str, Any]) -> EvmNetworkConfig:
    """The network described by a devnet-evm.json (see x402fac.devnet.evm)."""
    usdc = info["usdc"]
    return EvmNetworkConfig(
        network=info["network"],
        chain_id=int(info["chainId"]),
        rpc_urls=(info["rpcUrl"],),
        signer_keys=tuple(f["privateKey"] for f in info["facilitators"]),
        default_asset=TokenInfo(usdc["address"], usdc["name"], usdc["version"]),
    )


def load_config(env: Mapping[str, str] | None = None) -> EvmConfig:
    env = environ(env)
    networks = tuple(
        _network_from_env(env, net, urls) for net, urls in rpc_url_networks(env, FAMILY).items()
    ) or (_with_policy(env, from_devnet_info(env, FAMILY, network_from_devnet)),)
    return EvmConfig(
        networks=networks,
        rpc_timeout=get_float(env, "X402FAC_EVM_RPC_TIMEOUT", 10.0),
        confirm_poll=get_float(env, "X402FAC_EVM_CONFIRM_POLL", 0.075),
    )


# Every variable load_config reads, for the settings catalogue (x402fac.cli.settings) and the chart.
WORKER_VARIABLES = (
    Variable("X402FAC_EVM_RPC_TIMEOUT", 10.0, "workers.evm.rpcTimeout", positive=True),
    Variable("X402FAC_EVM_CONFIRM_POLL", 0.075, "workers.evm.confirmPoll", positive=True),
    Variable("X402FAC_EVM_SIGNER_KEYS", (), "workers.evm.signers.existingSecret", secret=True),
)
NETWORK_VARIABLES = tuple(
    network_variable(FAMILY, suffix)
    for suffix in (
        "RPC_URLS",
        "SIGNER_KEYS",
        "CONFIRMATIONS",
        "GAS_LIMIT",
        "ASSET",
        "ASSET_NAME",
        "ASSET_VERSION",
        "ALLOWED_ASSETS",
        "MIN_AMOUNT",
        "MAX_SETTLE_COST_WEI",
    )
)
