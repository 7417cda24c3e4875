"""The configuration helpers every worker shares: errors name the variable, devnet file fallback."""

import json

import pytest

from x402fac.settings import SettingsError, get_bool, get_float, get_int, get_list, split_list
from x402fac.worker.config import from_devnet_info, rpc_url_networks


def test_lists_drop_blanks_and_spaces():
    assert split_list(" a, b ,,c , ") == ("a", "b", "c")
    assert split_list(None) == ()
    assert get_list({"X": " , "}, "X") == ()


def test_numbers_have_defaults_bounds_and_name_the_variable():
    assert get_int({}, "X402FAC_N", 7) == 7
    assert get_int({"X402FAC_N": " 12 "}, "X402FAC_N", 7, minimum=1) == 12
    with pytest.raises(SettingsError, match="X402FAC_N must be an integer, got 'ten'"):
        get_int({"X402FAC_N": "ten"}, "X402FAC_N", 7)
    with pytest.raises(SettingsError, match="X402FAC_N must be at least 1"):
        get_int({"X402FAC_N": "0"}, "X402FAC_N", 7, minimum=1)
    with pytest.raises(SettingsError, match="X402FAC_N must be at most 5"):
        get_int({"X402FAC_N": "6"}, "X402FAC_N", 1, maximum=5)
    assert get_float({"X402FAC_T": "2.5"}, "X402FAC_T", 10.0) == 2.5
    assert get_float({"X402FAC_T": ""}, "X402FAC_T", 10.0) == 10.0
    for bad in ("soon", "0", "-1", "nan", "inf"):
        with pytest.raises(SettingsError, match="X402FAC_T"):
            get_float({"X402FAC_T": bad}, "X402FAC_T", 10.0)
    assert get_float({"X402FAC_T": "0"}, "X402FAC_T", 1.0, positive=False) == 0.0


def test_booleans():
    assert get_bool({}, "X402FAC_B", True) is True
    assert get_bool({"X402FAC_B": "yes"}, "X402FAC_B", False) is True
    assert get_bool({"X402FAC_B": "0"}, "X402FAC_B", True) is False
    with pytest.raises(SettingsError, match="X402FAC_B must be one of"):
        get_bool({"X402FAC_B": "maybe"}, "X402FAC_B", True)


def test_networks_are_found_by_their_rpc_urls_variable():
    env = {
        "X402FAC_NANO_MAINNET_RPC_URLS": "http://a, http://b",
        "X402FAC_NANO_BETA_RPC_URLS": "http://c",
        "X402FAC_NANO_RPC_TIMEOUT": "3",
        "X402FAC_SOLANA_DEVNET_RPC_URLS": "http://d",
    }
    assert rpc_url_networks(env, "nano") == {"BETA": ("http://c",), "MAINNET": ("http://a", "http://b")}
    with pytest.raises(SettingsError, match="X402FAC_NANO_MAINNET_RPC_URLS is set but names no URL"):
        rpc_url_networks({"X402FAC_NANO_MAINNET_RPC_URLS": " , "}, "nano")


def test_devnet_file_fallback(tmp_path):
    env = {"X402FAC_DATA_DIR": str(tmp_path)}
    with pytest.raises(SettingsError, match=r"X402FAC_NANO_<NET>_RPC_URLS.*devnet-nano\.json"):
        from_devnet_info(env, "nano", dict)
    (tmp_path / "devnet-nano.json").write_text(json.dumps({"rpcUrl": "http://x"}))
    assert from_devnet_info(env, "nano", lambda info: info["rpcUrl"]) == "http://x"
    with pytest.raises(SettingsError, match=r"devnet-nano\.json is not a valid devnet file"):
        from_devnet_info(env, "nano", lambda info: info["network"])
    (tmp_path / "devnet-nano.json").write_text("{not json")
    with pytest.raises(SettingsError, match="not readable JSON"):
        from_devnet_info(env, "nano", dict)
