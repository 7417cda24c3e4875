"""EVM networks the worker serves, from X402FAC_EVM_* variables or, by default, the local devnet.

The naming scheme every worker shares (x402fac.worker.config): a network is served when its RPC URLs
are set, and `{net}` is its chain id (X402FAC_EVM_8453_RPC_URLS serves eip155:8453). The variables are
the settings of `EvmConfig` (the whole worker) and `EvmNetworkSettings` (one network) below; the
reference is `x402fac settings --markdown` (docs/settings.md).

With no X402FAC_EVM_*_RPC_URLS set, the worker serves the devnet described by
`$X402FAC_DATA_DIR/devnet-evm.json` (default data dir `.x402fac`; the asset policy settings apply to it
too, by its chain id); with neither, it does not start (`SettingsError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from x402fac.settings import FamilySettings, SettingsError, environ, load, source
from x402fac.worker.config import ANY_ASSET, WorkerConfig, from_devnet_info, get_minimums, rpc_url_networks

from .eip3009 import is_address
from .permit2 import GAS_SPONSORING_EXTENSIONS, UPTO_PROXY_ADDRESS

FAMILY = "evm"
EVM = FamilySettings(FAMILY)
GAS_SPONSORING = GAS_SPONSORING_EXTENSIONS  # the extensions a network may enable


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
class EvmNetworkSettings:
    """What one network reads (`{net}`: its chain id); a network entry of the chart sets each by its key."""

    rpc_urls: tuple[str, ...] = EVM.rpc_urls("eip155:<chain id>")
    signer_keys: tuple[str, ...] = EVM.network(
        "SIGNER_KEYS",
        (),
        worker_wide={"values": "workers.evm.signers.existingSecret", "secret": True},
        doc="facilitator private keys (comma list, a leased pool); the worker-wide variable serves every "
        "network without its own",
    )
    confirmations: int = EVM.network(
        "CONFIRMATIONS", 1, minimum=1, doc="blocks a settlement waits for, the receipt's included (1: mined)"
    )
    gas_limit: int = EVM.network(
        "GAS_LIMIT",
        300_000,
        minimum=21_000,
        doc="upper bound of a settlement's gas (its plan is the estimate + 25 %, up to this)",
    )
    asset: str = EVM.network(
        "ASSET",
        "",
        doc="the default token listed in /supported; Circle's USDC is built in for chains 1, 8453, 84532 "
        "and 43114",
    )
    asset_name: str = EVM.network("ASSET_NAME", "USD Coin", doc="that token's EIP-712 domain name")
    asset_version: str = EVM.network("ASSET_VERSION", "2", doc="that token's EIP-712 domain version")
    allowed_assets: tuple[str, ...] = EVM.allowed_assets(
        "tokens settled besides the default asset", "any token that passes an on-chain EIP-3009 check"
    )
    min_amount: tuple[str, ...] = EVM.min_amount("token")
    max_settle_cost_wei: int = EVM.network(
        "MAX_SETTLE_COST_WEI",
        10**16,  # 0.01 of the native coin: ~60k gas at 160 gwei
        minimum=1,
        doc="ceiling of gas limit x maxFeePerGas of a settlement (10^16 wei: 0.01 ETH); above it nothing is "
        "sent (`fee_too_high`, retryable)",
    )
    gas_sponsoring: tuple[str, ...] = EVM.network(
        "GAS_SPONSORING",
        (),
        doc="x402 gas-sponsoring extensions accepted with Permit2 payments and listed in /supported "
        f"`extensions` (comma list): {', '.join(f'`{name}`' for name in GAS_SPONSORING)} (what each costs: "
        "docs/networks/evm.md, Permit2)",
    )
    upto: bool = EVM.network(
        "UPTO",
        False,
        doc=f"serve the `upto` scheme (Permit2; the x402 upto proxy {UPTO_PROXY_ADDRESS} "
        "must be deployed on the network): listed in /supported with `extra.facilitatorAddress` (on by "
        "default on the devnet, which has the proxy)",
    )
    erc6492_factories: tuple[str, ...] = EVM.network(
        "ERC6492_FACTORIES",
        (),
        doc="wallet factories we call, with our gas, to deploy an ERC-6492 payer's wallet before settling "
        "(comma list; none by default: such payments are `eip6492_factory_not_allowed`; the devnet's own "
        "factory on the devnet)",
    )


NETWORK_DEFAULTS = EvmNetworkSettings()


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

    max_settle_cost_wei: int = NETWORK_DEFAULTS.max_settle_cost_wei
    gas_sponsoring: frozenset[str] = frozenset()  # enabled x402 gas-sponsoring extensions (Permit2)
    # Lower-case factories whose call (with our gas) may deploy an ERC-6492 payer's wallet.
    erc6492_factories: frozenset[str] = frozenset()
    upto: bool = False  # the x402 upto proxy is on this network: the `upto` scheme is served
    confirmations: int = NETWORK_DEFAULTS.confirmations
    gas_limit: int = NETWORK_DEFAULTS.gas_limit
    gas_margin_percent: int = 25

    @property
    def listed_assets(self) -> frozenset[str]:
        """Lower-case addresses of the tokens listed in /supported: the default asset and the allowlist."""
        default = {self.default_asset.address.lower()} if self.default_asset else set()
        return self.allowed_assets | default


@dataclass(frozen=True, slots=True)
class EvmConfig(WorkerConfig[EvmNetworkConfig]):
    rpc_timeout: float = EVM.rpc_timeout()
    confirm_poll: float = EVM.confirm_poll(
        0.075,
        "receipt polls (one batched poll for every settle waiting, with the head: a receipt found missing"
        " is asked again once a block came, or with every poll for its first 30 ms on a chain that"
        " mines on arrival)",
    )


def _network_from_env(env: Mapping[str, str], net: str, urls: tuple[str, ...]) -> EvmNetworkConfig:
    prefix = f"X402FAC_EVM_{net}_"
    if not net.isdigit():
        raise SettingsError(
            f"{prefix}RPC_URLS: the network must be a chain id, as in X402FAC_EVM_8453_RPC_URLS"
        )
    settings = load(EvmNetworkSettings, env, net=net)
    chain_id = int(net)
    network = f"eip155:{chain_id}"
    if not settings.signer_keys:
        raise SettingsError(
            f"no signer key for {network}: set {prefix}SIGNER_KEYS or X402FAC_EVM_SIGNER_KEYS"
        )
    asset = KNOWN_USDC.get(chain_id)
    if settings.asset:
        if not is_address(settings.asset):
            raise SettingsError(f"{prefix}ASSET is not an address: {settings.asset!r}")
        asset = TokenInfo(settings.asset, settings.asset_name, settings.asset_version)
    return _with_policy(
        env,
        settings,
        EvmNetworkConfig(
            network=network,
            chain_id=chain_id,
            rpc_urls=urls,
            signer_keys=settings.signer_keys,
            default_asset=asset,
            confirmations=settings.confirmations,
            gas_limit=settings.gas_limit,
        ),
    )


def _with_policy(
    env: Mapping[str, str], settings: EvmNetworkSettings, config: EvmNetworkConfig
) -> EvmNetworkConfig:
    """The network's asset allowlist, minimum amount, settlement cost ceiling and wallet factories."""
    net = str(config.chain_id)
    listed = settings.allowed_assets
    any_asset = [item.lower() for item in listed] == [ANY_ASSET]
    if not any_asset and any(not is_address(a) for a in listed):
        name = source(EvmNetworkSettings, "allowed_assets", env, net=net)
        raise SettingsError(f"{name} must be token addresses (comma list) or `{ANY_ASSET}`")
    allowed = frozenset() if any_asset else frozenset(a.lower() for a in listed)
    if not (allowed or any_asset or config.default_asset):
        prefix = f"X402FAC_EVM_{net}_"
        raise SettingsError(
            f"no asset to settle on {config.network}: set {prefix}ASSET (with _ASSET_NAME, _ASSET_VERSION)"
            f" or {prefix}ALLOWED_ASSETS"
        )
    minimum_name = source(EvmNetworkSettings, "min_amount", env, net=net)

    def token(address: str) -> str:
        if not is_address(address):
            raise SettingsError(f"{minimum_name}: {address!r} is not a token address")
        return address.lower()

    minimum, by_asset = get_minimums(settings.min_amount, minimum_name, token)
    unknown = [name for name in settings.gas_sponsoring if name not in GAS_SPONSORING]
    if unknown:
        name = source(EvmNetworkSettings, "gas_sponsoring", env, net=net)
        raise SettingsError(f"{name}: {unknown[0]!r} is not one of {', '.join(GAS_SPONSORING)}")
    factories = settings.erc6492_factories
    if any(not is_address(f) for f in factories):
        name = source(EvmNetworkSettings, "erc6492_factories", env, net=net)
        raise SettingsError(f"{name} must be factory addresses (comma list)")
    return replace(
        config,
        allowed_assets=allowed,
        any_asset=any_asset,
        min_amount=minimum,
        min_amount_by_asset=by_asset,
        max_settle_cost_wei=settings.max_settle_cost_wei,
        gas_sponsoring=frozenset(settings.gas_sponsoring),
        erc6492_factories=frozenset(f.lower() for f in factories) if factories else config.erc6492_factories,
        upto=settings.upto or config.upto,
    )


def network_from_devnet(info: Mapping[str, Any]) -> EvmNetworkConfig:
    """The network described by a devnet-evm.json (see x402fac.devnet.evm)."""
    usdc = info["usdc"]
    factory = info.get("erc6492", {}).get("factory")
    return EvmNetworkConfig(
        network=info["network"],
        chain_id=int(info["chainId"]),
        rpc_urls=(info["rpcUrl"],),
        signer_keys=tuple(f["privateKey"] for f in info["facilitators"]),
        default_asset=TokenInfo(usdc["address"], usdc["name"], usdc["version"]),
        erc6492_factories=frozenset([factory.lower()]) if factory else frozenset(),
        upto="uptoProxy" in info.get("permit2", {}),
    )


def load_config(env: Mapping[str, str] | None = None) -> EvmConfig:
    env = environ(env)
    networks = tuple(
        _network_from_env(env, net, urls) for net, urls in rpc_url_networks(env, FAMILY).items()
    ) or (_devnet(env),)
    return load(EvmConfig, env, networks=networks)


def _devnet(env: Mapping[str, str]) -> EvmNetworkConfig:
    """The devnet's network, with the asset policy set for its chain id."""
    devnet = from_devnet_info(env, FAMILY, network_from_devnet)
    return _with_policy(env, load(EvmNetworkSettings, env, net=str(devnet.chain_id)), devnet)
