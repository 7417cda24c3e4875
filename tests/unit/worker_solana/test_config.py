"""Solana worker configuration from the environment, or from a running devnet's info file."""

import json

import pytest
from solders.keypair import Keypair

from x402fac.settings import SettingsError
from x402fac.worker_solana.config import MAX_FEE_LAMPORTS, Limits, load_config

KEY_A, KEY_B = Keypair(), Keypair()
USDC_MAINNET = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
MINT = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
BASE = {"X402FAC_SOLANA_DEVNET_RPC_URLS": "http://x", "X402FAC_SOLANA_FEE_PAYER_KEYS": str(KEY_A)}


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
    assert network.assets == frozenset({USDC_MAINNET})  # an allowlist by default
    assert network.limits.max_compute_unit_price == 1000
    assert network.limits == Limits(max_compute_unit_price=1000)


def test_custom_network_needs_its_genesis_hash_and_may_own_keys_and_assets():
    env = {
        "X402FAC_SOLANA_LOCAL_RPC_URLS": "http://127.0.0.1:8899",
        "X402FAC_SOLANA_FEE_PAYER_KEYS": str(KEY_A),
        "X402FAC_SOLANA_LOCAL_FEE_PAYER_KEYS": f"{KEY_B}",
        "X402FAC_SOLANA_LOCAL_ALLOWED_ASSETS": "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
    }
    with pytest.raises(SettingsError, match="X402FAC_SOLANA_LOCAL_GENESIS_HASH"):
        load_config(env)
    env["X402FAC_SOLANA_LOCAL_GENESIS_HASH"] = "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG"
    (network,) = load_config(env).networks
    assert network.network == "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
    assert network.fee_payer_addresses == [str(KEY_B.pubkey())]
    assert network.assets == frozenset({"4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"})


def test_a_network_without_fee_payer_is_refused():
    with pytest.raises(
        SettingsError, match="X402FAC_SOLANA_DEVNET_FEE_PAYER_KEYS or X402FAC_SOLANA_FEE_PAYER_KEYS"
    ):
        load_config({"X402FAC_SOLANA_DEVNET_RPC_URLS": "http://x"})
    with pytest.raises(SettingsError, match="X402FAC_SOLANA_FEE_PAYER_KEYS holds a key"):
        load_config({"X402FAC_SOLANA_DEVNET_RPC_URLS": "http://x", "X402FAC_SOLANA_FEE_PAYER_KEYS": "nope"})


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("X402FAC_SOLANA_MAX_COMPUTE_UNIT_PRICE", "cheap"),
        ("X402FAC_SOLANA_MAX_COMPUTE_UNIT_PRICE", "-1"),
        ("X402FAC_SOLANA_RPC_TIMEOUT", "0"),
        ("X402FAC_SOLANA_CONFIRM_POLL", "often"),
        ("X402FAC_SOLANA_MIN_AMOUNT", "0"),
        ("X402FAC_SOLANA_DEVNET_MIN_AMOUNT", "-5"),
        ("X402FAC_SOLANA_DEVNET_MIN_AMOUNT", "notamint=5"),
        ("X402FAC_SOLANA_MAX_COMPUTE_UNIT_LIMIT", "0"),
        ("X402FAC_SOLANA_DEVNET_MAX_FEE_LAMPORTS", "lots"),
        ("X402FAC_SOLANA_ALLOWED_MINT_EXTENSIONS", "transfer_fee,interest_bearing"),
        ("X402FAC_SOLANA_DEVNET_ALLOWED_ASSETS", "not-a-mint"),
    ],
)
def test_invalid_settings_name_their_variable(setting, value):
    with pytest.raises(SettingsError, match=setting):
        load_config({**BASE, setting: value})


def test_devnet_info_file_is_the_default(tmp_path):
    with pytest.raises(SettingsError, match="X402FAC_SOLANA_<NET>_RPC_URLS"):
        load_config({"X402FAC_DATA_DIR": str(tmp_path)})
    info = {
        "network": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
        "rpc_url": "http://127.0.0.1:8899",
        "usdc": {"mint": MINT, "decimals": 6},
        "fee_payers": [{"address": str(KEY_A.pubkey()), "secret": str(KEY_A)}],
    }
    (tmp_path / "devnet-solana.json").write_text(json.dumps(info))
    env = {"X402FAC_DATA_DIR": str(tmp_path), "X402FAC_SOLANA_MAX_FEE_LAMPORTS": "20000"}
    (network,) = load_config(env).networks
    assert network.rpc_urls == ("http://127.0.0.1:8899",)
    assert network.fee_payer_addresses == [str(KEY_A.pubkey())]
    assert network.assets == frozenset({MINT})  # the devnet's USDC only
    assert network.limits.max_fee_lamports == 20_000


def test_any_asset_is_an_explicit_opt_in_and_other_networks_must_name_theirs():
    assert load_config({**BASE, "X402FAC_SOLANA_DEVNET_ALLOWED_ASSETS": "any"}).networks[0].assets is None
    assert load_config(BASE).networks[0].assets == frozenset({MINT})
    with pytest.raises(SettingsError, match="X402FAC_SOLANA_TESTNET_ALLOWED_ASSETS"):
        load_config(
            {"X402FAC_SOLANA_TESTNET_RPC_URLS": "http://x", "X402FAC_SOLANA_FEE_PAYER_KEYS": str(KEY_A)}
        )


def test_limits_default_to_never_free_and_bounded_fees():
    limits = load_config(BASE).networks[0].limits
    assert limits.min_amount_of(MINT) == 1
    assert limits.max_compute_unit_limit == 40_000
    # two signatures plus the official 20,000-unit limit at the top price of 5,000,000 micro-lamports
    assert limits.max_fee_lamports == MAX_FEE_LAMPORTS == 2 * 5_000 + 100_000
    assert limits.allowed_mint_extensions == frozenset()


def test_per_network_limits_override_the_worker_wide_ones():
    other = str(Keypair().pubkey())
    env = {
        **BASE,
        "X402FAC_SOLANA_MIN_AMOUNT": "7",
        "X402FAC_SOLANA_DEVNET_MIN_AMOUNT": f"100, {other}=5000",
        "X402FAC_SOLANA_MAX_COMPUTE_UNIT_LIMIT": "30000",
        "X402FAC_SOLANA_DEVNET_MAX_FEE_LAMPORTS": "15000",
        "X402FAC_SOLANA_DEVNET_ALLOWED_MINT_EXTENSIONS": "transfer_fee, pausable",
    }
    limits = load_config(env).networks[0].limits
    assert limits.min_amount_of(MINT) == 100 and limits.min_amount_of(other) == 5000
    assert limits.max_compute_unit_limit == 30_000
    assert limits.max_fee_lamports == 15_000
    assert limits.allowed_mint_extensions == frozenset({"transfer_fee", "pausable"})
