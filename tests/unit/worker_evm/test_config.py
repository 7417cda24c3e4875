"""EVM worker configuration: env variables, devnet fallback, /supported shape."""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from x402fac.worker_evm.config import ConfigError, load_networks
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
    by_network = {n.network: n for n in load_networks(env)}
    assert set(by_network) == {"eip155:84532", "eip155:8453"}
    sepolia, base = by_network["eip155:84532"], by_network["eip155:8453"]
    assert sepolia.network == "eip155:84532" and sepolia.chain_id == 84532
    assert sepolia.rpc_urls == ("http://127.0.0.1:1", "http://127.0.0.1:2")
    assert sepolia.confirmations == 2
    assert sepolia.allowed_assets == frozenset({"0x036cbd53842c5426634e7929541ec2318f3dcf7e"})
    assert sepolia.default_asset.name == "USDC"
    assert base.default_asset.name == "USD Coin" and base.gas_limit == 150_000 and base.allowed_assets is None
    assert base.signer_keys == (key,)
    assert base.rpc_timeout == 4.0 and base.receipt_poll_interval == 0.5


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
    ],
)
def test_config_errors_say_what_is_missing(env: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_networks(env)


def test_devnet_info_is_the_default(tmp_path) -> None:
    signer = Account.create()
    info = {
        "network": "eip155:84532",
        "chainId": 84532,
        "rpcUrl": "http://127.0.0.1:9",
        "usdc": {"address": "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "name": "USDC", "version": "2"},
        "facilitators": [{"address": signer.address, "privateKey": "0x" + bytes(signer.key).hex()}],
    }
    (tmp_path / "devnet-evm.json").write_text(json.dumps(info))
    (network,) = load_networks({"X402FAC_DATA_DIR": str(tmp_path)})
    assert network.rpc_urls == ("http://127.0.0.1:9",)
    with pytest.raises(ConfigError, match="no EVM network configured: set X402FAC_EVM_<NET>_RPC_URLS"):
        load_networks({"X402FAC_DATA_DIR": str(tmp_path / "nothing")})

    supported = ExactEvmScheme([network]).supported()
    kinds = {(k.x402_version, k.network): k.extra for k in supported.kinds}
    extra = {"name": "USDC", "version": "2", "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e"}
    assert kinds == {(2, "eip155:84532"): extra, (1, "base-sepolia"): extra}
    assert supported.signers == {"eip155:*": [signer.address]}
