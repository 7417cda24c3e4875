"""Worker configuration from the environment and from a devnet info file."""

import json

import pytest

from x402fac.nano import MAINNET_SEND_THRESHOLD
from x402fac.settings import SettingsError
from x402fac.worker_nano.config import load_config


def test_networks_from_env():
    config = load_config(
        {
            "X402FAC_NANO_MAINNET_RPC_URLS": "http://a:7076, http://b:7076",
            "X402FAC_NANO_BETA_RPC_URLS": "http://beta:7076",
            "X402FAC_NANO_BETA_WORK_THRESHOLD": "fffff00000000000",
            "X402FAC_NANO_BETA_MIN_AMOUNT": "1000000",
            "X402FAC_NANO_RPC_TIMEOUT": "3",
            "X402FAC_DATA_DIR": "/nonexistent",
        }
    )
    by_name = {n.network: n for n in config.networks}
    assert set(by_name) == {"nano:mainnet", "nano:beta"}
    assert by_name["nano:mainnet"].rpc_urls == ("http://a:7076", "http://b:7076")
    assert by_name["nano:mainnet"].work_threshold == MAINNET_SEND_THRESHOLD
    assert by_name["nano:mainnet"].work_threshold_hex == "fffffff800000000"
    assert by_name["nano:beta"].work_threshold == 0xFFFFF00000000000
    assert (by_name["nano:beta"].min_amount, by_name["nano:mainnet"].min_amount) == (1_000_000, 1)
    assert config.rpc_timeout == 3.0


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"X402FAC_NANO_MAINNET_RPC_URLS": " , "}, "X402FAC_NANO_MAINNET_RPC_URLS"),
        (
            {"X402FAC_NANO_MAINNET_RPC_URLS": "http://a", "X402FAC_NANO_MAINNET_WORK_THRESHOLD": "fast"},
            "X402FAC_NANO_MAINNET_WORK_THRESHOLD",
        ),
        (
            {"X402FAC_NANO_MAINNET_RPC_URLS": "http://a", "X402FAC_NANO_MAINNET_MIN_AMOUNT": "0"},
            "X402FAC_NANO_MAINNET_MIN_AMOUNT",
        ),
        (
            {"X402FAC_NANO_MAINNET_RPC_URLS": "http://a", "X402FAC_NANO_RPC_TIMEOUT": "ten"},
            "X402FAC_NANO_RPC_TIMEOUT",
        ),
        (
            {"X402FAC_NANO_MAINNET_RPC_URLS": "http://a", "X402FAC_NANO_CONFIRM_POLL": "0"},
            "X402FAC_NANO_CONFIRM_POLL",
        ),
    ],
)
def test_invalid_settings_name_their_variable(env, variable):
    with pytest.raises(SettingsError, match=variable):
        load_config(env)


def test_devnet_file_when_nothing_configured(tmp_path):
    (tmp_path / "devnet-nano.json").write_text(
        json.dumps(
            {
                "network": "nano:devnet",
                "rpcUrl": "http://127.0.0.1:7076",
                "workThresholds": {"send": "fff0000000000000", "receive": "ffc0000000000000"},
            }
        )
    )
    config = load_config({"X402FAC_DATA_DIR": str(tmp_path)})
    assert [(n.network, n.rpc_urls, n.work_threshold, n.min_amount) for n in config.networks] == [
        ("nano:devnet", ("http://127.0.0.1:7076",), 0xFFF0000000000000, 1)
    ]
    # The minimum applies to the devnet too, by its CAIP-2 reference; a worthless one is refused.
    priced = load_config({"X402FAC_DATA_DIR": str(tmp_path), "X402FAC_NANO_DEVNET_MIN_AMOUNT": "1000"})
    assert [n.min_amount for n in priced.networks] == [1000]
    with pytest.raises(SettingsError, match="X402FAC_NANO_DEVNET_MIN_AMOUNT"):
        load_config({"X402FAC_DATA_DIR": str(tmp_path), "X402FAC_NANO_DEVNET_MIN_AMOUNT": "0"})
    # Explicit configuration wins over the devnet file.
    explicit = load_config(
        {"X402FAC_DATA_DIR": str(tmp_path), "X402FAC_NANO_MAINNET_RPC_URLS": "http://n:7076"}
    )
    assert [n.network for n in explicit.networks] == ["nano:mainnet"]


def test_nothing_at_all_does_not_start(tmp_path):
    with pytest.raises(SettingsError, match="X402FAC_NANO_<NET>_RPC_URLS"):
        load_config({"X402FAC_DATA_DIR": str(tmp_path)})
