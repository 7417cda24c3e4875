"""Solana worker configuration from the environment, or from a running devnet's info file."""

import json

import pytest
from solders.keypair import Keypair

from x402fac.worker.config import ConfigError
from x402fac.worker_solana.config import load_config

KEY_A, KEY_B = Keypair(), Keypair()


def test_known_network_with_shared_keys_and_failover_urls():
    config = load_config(
        {
            "X402FAC_SOLANA_MAINNET_RPC_URLS": "https://a.example, https://b.example",
            "X402FAC_SOLANA_FEE_PAYER_KEYS": str(KEY_A),
            "X402FAC_SOLANA_MAX_COMPUTE_UNIT_PRICE": "1000",
        }
    )
    (network,) = config.networks
    assert network.network == "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"
    assert network.rpc_urls == ("https://a.example", "https://b.example")
    assert network.fee_payer_addresses == [str(KEY_A.pubkey())]
    assert network.assets is None
    assert config.max_compute_unit_price == 1000


def test_custom_network_needs_its_genesis_hash_and_may_own_keys_and_assets():
    env = {
        "X402FAC_SOLANA_LOCAL_RPC_URLS": "http://127.0.0.1:8899",
        "X402FAC_SOLANA_FEE_PAYER_KEYS": str(KEY_A),
        "X402FAC_SOLANA_LOCAL_FEE_PAYER_KEYS": f"{KEY_B}",
        "X402FAC_SOLANA_LOCAL_ALLOWED_ASSETS": "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
    }
    with pytest.raises(ConfigError, match="X402FAC_SOLANA_LOCAL_GENESIS_HASH"):
        load_config(env)
    env["X402FAC_SOLANA_LOCAL_GENESIS_HASH"] = "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG"
    (network,) = load_config(env).networks
    assert network.network == "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
    assert network.fee_payer_addresses == [str(KEY_B.pubkey())]
    assert network.assets == frozenset({"4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"})


def test_a_network_without_fee_payer_is_refused():
    with pytest.raises(
        ConfigError, match="X402FAC_SOLANA_DEVNET_FEE_PAYER_KEYS or X402FAC_SOLANA_FEE_PAYER_KEYS"
    ):
        load_config({"X402FAC_SOLANA_DEVNET_RPC_URLS": "http://x"})
    with pytest.raises(ConfigError, match="X402FAC_SOLANA_FEE_PAYER_KEYS holds a key"):
        load_config({"X402FAC_SOLANA_DEVNET_RPC_URLS": "http://x", "X402FAC_SOLANA_FEE_PAYER_KEYS": "nope"})


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("X402FAC_SOLANA_MAX_COMPUTE_UNIT_PRICE", "cheap"),
        ("X402FAC_SOLANA_MAX_COMPUTE_UNIT_PRICE", "-1"),
        ("X402FAC_SOLANA_RPC_TIMEOUT", "0"),
        ("X402FAC_SOLANA_CONFIRM_POLL", "often"),
    ],
)
def test_invalid_settings_name_their_variable(setting, value):
    env = {"X402FAC_SOLANA_DEVNET_RPC_URLS": "http://x", "X402FAC_SOLANA_FEE_PAYER_KEYS": str(KEY_A)}
    with pytest.raises(ConfigError, match=setting):
        load_config({**env, setting: value})


def test_devnet_info_file_is_the_default(tmp_path):
    with pytest.raises(ConfigError, match="X402FAC_SOLANA_<NET>_RPC_URLS"):
        load_config({"X402FAC_DATA_DIR": str(tmp_path)})
    info = {
        "network": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
        "rpc_url": "http://127.0.0.1:8899",
        "fee_payers": [{"address": str(KEY_A.pubkey()), "secret": str(KEY_A)}],
    }
    (tmp_path / "devnet-solana.json").write_text(json.dumps(info))
    (network,) = load_config({"X402FAC_DATA_DIR": str(tmp_path)}).networks
    assert network.rpc_urls == ("http://127.0.0.1:8899",)
    assert network.fee_payer_addresses == [str(KEY_A.pubkey())]
