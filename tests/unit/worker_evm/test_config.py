"""EVM worker configuration: env variables, devnet fallback, /supported shape."""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from x402fac.settings import SettingsError
from x402fac.worker import supported_of
from x402fac.worker_evm.config import load_config
from x402fac.worker_evm.exact import ExactEvmScheme


def test_networks_from_env_with_known_usdc_and_overrides() -> None:
    key = "0x" + bytes(Account.create().key).hex()
    env = {
        "X402FAC_EVM_SIGNER_KEYS": key,
        "X402FAC_EVM_84532_RPC_URLS": "http://127.0.0.1:1,http://127.0.0.1:2",
        "X402FAC_EVM_84532_CONFIRMATIONS": "2",
        "X402FAC_EVM_84532_ALLOWED_ASSETS": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        "X402FAC_EVM_8453_RPC_URLS": "http://127.0.0.1:3",
        "X402FAC_EVM_8453_GAS_LIMIT": "150000",
        "X402FAC_EVM_RPC_TIMEOUT": "4",
        "X402FAC_EVM_CONFIRM_POLL": "0.5",
    }
    config = load_config(env)
    by_network = {n.network: n for n in config.networks}
    assert set(by_network) == {"eip155:84532", "eip155:8453"}
    sepolia, base = by_network["eip155:84532"], by_network["eip155:8453"]
    assert sepolia.network == "eip155:84532" and sepolia.chain_id == 84532
    assert sepolia.rpc_urls == ("http://127.0.0.1:1", "http://127.0.0.1:2")
    assert sepolia.confirmations == 2
    assert sepolia.allowed_assets == frozenset({"0x036cbd53842c5426634e7929541ec2318f3dcf7e"})
    assert sepolia.default_asset.name == "USDC"
    assert base.default_asset.name == "USD Coin" and base.gas_limit == 150_000
    # By default only the network's USDC is settled: an allowlist of one.
    assert base.allowed_assets == frozenset() and not base.any_asset
    assert base.listed_assets == frozenset({"0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"})
    assert base.min_amount == 1 and base.max_settle_cost_wei == 10**16
    assert base.signer_keys == (key,)
    assert config.rpc_timeout == 4.0 and config.confirm_poll == 0.5


def test_asset_policy_any_minimum_and_cost_ceiling() -> None:
    key = "0x" + bytes(Account.create().key).hex()
    other = Account.create().address
    env = {
        "X402FAC_EVM_SIGNER_KEYS": key,
        "X402FAC_EVM_8453_RPC_URLS": "http://127.0.0.1:3",
        "X402FAC_EVM_8453_ALLOWED_ASSETS": "ANY",
        "X402FAC_EVM_8453_MIN_AMOUNT": "1000",
        "X402FAC_EVM_8453_MAX_SETTLE_COST_WEI": "5000000000000",
        "X402FAC_EVM_777_RPC_URLS": "http://127.0.0.1:4",
        "X402FAC_EVM_777_ALLOWED_ASSETS": other,
        "X402FAC_EVM_777_MIN_AMOUNT": f"5, {other}=250000",
    }
    base, unknown = sorted(load_config(env).networks, key=lambda n: n.chain_id, reverse=True)
    assert base.any_asset and base.min_amount == 1_000 and base.max_settle_cost_wei == 5 * 10**12
    # a minimum per asset, beside the network's default
    assert (
        unknown.min_amount_of(other.upper().replace("0X", "0x")),
        unknown.min_amount_of("0x" + "1" * 40),
    ) == (
        250_000,
        5,
    )
    # A chain with no built-in USDC settles exactly what is listed, and /supported says so.
    assert unknown.default_asset is None and unknown.listed_assets == frozenset({other.lower()})
    kinds = supported_of([ExactEvmScheme([unknown])]).kinds
    assert [(k.x402_version, k.network, k.extra) for k in kinds] == [(2, "eip155:777", {"asset": other})]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"X402FAC_EVM_1_RPC_URLS": " ,"}, "X402FAC_EVM_1_RPC_URLS is set but names no URL"),
        ({"X402FAC_EVM_1_RPC_URLS": "http://x"}, "set X402FAC_EVM_1_SIGNER_KEYS or X402FAC_EVM_SIGNER_KEYS"),
        (
            {"X402FAC_EVM_BASE_RPC_URLS": "http://x"},
            "X402FAC_EVM_BASE_RPC_URLS: the network must be a chain id",
        ),
        (
            {
                "X402FAC_EVM_1_RPC_URLS": "http://x",
                "X402FAC_EVM_SIGNER_KEYS": "0x1",
                "X402FAC_EVM_1_CONFIRMATIONS": "zero",
            },
            "X402FAC_EVM_1_CONFIRMATIONS must be an integer",
        ),
        (
            {
                "X402FAC_EVM_1_RPC_URLS": "http://x",
                "X402FAC_EVM_SIGNER_KEYS": "0x1",
                "X402FAC_EVM_1_GAS_LIMIT": "100",
            },
            "X402FAC_EVM_1_GAS_LIMIT must be at least 21000",
        ),
        (
            {
                "X402FAC_EVM_1_RPC_URLS": "http://x",
                "X402FAC_EVM_SIGNER_KEYS": "0x1",
                "X402FAC_EVM_1_ASSET": "usdc",
            },
            "X402FAC_EVM_1_ASSET is not an address",
        ),
        (
            {
                "X402FAC_EVM_1_RPC_URLS": "http://x",
                "X402FAC_EVM_SIGNER_KEYS": "0x1",
                "X402FAC_EVM_RPC_TIMEOUT": "-2",
            },
            "X402FAC_EVM_RPC_TIMEOUT must be a positive number",
        ),
        (
            {
                "X402FAC_EVM_8453_RPC_URLS": "http://x",
                "X402FAC_EVM_SIGNER_KEYS": "0x1",
                "X402FAC_EVM_8453_MIN_AMOUNT": "0",
            },
            "X402FAC_EVM_8453_MIN_AMOUNT must be at least 1",
        ),
        (
            {
                "X402FAC_EVM_8453_RPC_URLS": "http://x",
                "X402FAC_EVM_SIGNER_KEYS": "0x1",
                "X402FAC_EVM_8453_MAX_SETTLE_COST_WEI": "lots",
            },
            "X402FAC_EVM_8453_MAX_SETTLE_COST_WEI must be an integer",
        ),
        (
            {
                "X402FAC_EVM_8453_RPC_URLS": "http://x",
                "X402FAC_EVM_SIGNER_KEYS": "0x1",
                "X402FAC_EVM_8453_ALLOWED_ASSETS": "any,0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
            },
            "X402FAC_EVM_8453_ALLOWED_ASSETS must be token addresses",
        ),
        (
            {"X402FAC_EVM_777_RPC_URLS": "http://x", "X402FAC_EVM_SIGNER_KEYS": "0x1"},
            "no asset to settle on eip155:777: set X402FAC_EVM_777_ASSET",
        ),
    ],
)
def test_config_errors_say_what_is_missing(env: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_config(env)


def _write_devnet_info(data_dir, signer, **more: object) -> dict:
    """A devnet-evm.json as the EVM devnet writes it, with `signer` as its facilitator."""
    info = {
        "network": "eip155:84532",
        "chainId": 84532,
        "rpcUrl": "http://127.0.0.1:9",
        "usdc": {"address": "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "name": "USDC", "version": "2"},
        **more,
        "facilitators": [{"address": signer.address, "privateKey": "0x" + bytes(signer.key).hex()}],
    }
    (data_dir / "devnet-evm.json").write_text(json.dumps(info))
    return info


def test_devnet_info_is_the_default(tmp_path) -> None:
    signer = Account.create()
    info = _write_devnet_info(tmp_path, signer)
    (network,) = load_config({"X402FAC_DATA_DIR": str(tmp_path)}).networks
    assert network.rpc_urls == ("http://127.0.0.1:9",)
    assert network.listed_assets == frozenset({info["usdc"]["address"].lower()}) and not network.any_asset
    # The asset policy variables apply to the devnet too, by its chain id.
    (policed,) = load_config(
        {"X402FAC_DATA_DIR": str(tmp_path), "X402FAC_EVM_84532_MIN_AMOUNT": "7"}
    ).networks
    assert policed.min_amount == 7
    with pytest.raises(SettingsError, match="no EVM network configured: set X402FAC_EVM_<NET>_RPC_URLS"):
        load_config({"X402FAC_DATA_DIR": str(tmp_path / "nothing")})

    supported = supported_of([ExactEvmScheme([network])])
    kinds = {(k.x402_version, k.network): k.extra for k in supported.kinds}
    extra = {"name": "USDC", "version": "2", "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e"}
    assert kinds == {(2, "eip155:84532"): extra, (1, "base-sepolia"): extra}
    assert supported.signers == {"eip155:*": [signer.address]}


def test_erc6492_factories_none_by_default_from_env_or_the_devnet(tmp_path) -> None:
    env = {"X402FAC_EVM_8453_RPC_URLS": "http://x", "X402FAC_EVM_SIGNER_KEYS": "0x1"}
    (network,) = load_config(env).networks
    assert network.erc6492_factories == frozenset()
    factory = "0x0BA5ED0c6AA8c49038F819E587E2633c4A9F428a"
    (network,) = load_config({**env, "X402FAC_EVM_8453_ERC6492_FACTORIES": factory}).networks
    assert network.erc6492_factories == frozenset({factory.lower()})
    with pytest.raises(SettingsError, match="X402FAC_EVM_8453_ERC6492_FACTORIES must be factory addresses"):
        load_config({**env, "X402FAC_EVM_8453_ERC6492_FACTORIES": "any"})

    signer = Account.create()
    _write_devnet_info(tmp_path, signer, erc6492={"factory": factory})
    (devnet,) = load_config({"X402FAC_DATA_DIR": str(tmp_path)}).networks
    assert devnet.erc6492_factories == frozenset({factory.lower()})
