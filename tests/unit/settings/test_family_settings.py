"""A family's settings named by its one rule: X402FAC_<FAMILY>_[{net}_]KEY, set by the Helm value
workers.<family>.[networks[].]key (camel-cased)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from x402fac.settings import FamilySettings, SettingsError, load, variables

T = FamilySettings("t")


@dataclass(frozen=True, slots=True)
class Sample:
    rpc_timeout: float = T.rpc_timeout()
    confirm_poll: float = T.confirm_poll(0.5, "status polls")
    max_fee_lamports: int = T.network("MAX_FEE_LAMPORTS", 7, minimum=1, worker_wide=True)


def test_names_and_helm_values_follow_the_family_rule() -> None:
    assert [(v.name, v.values) for v in variables(Sample)] == [
        ("X402FAC_T_RPC_TIMEOUT", "workers.t.rpcTimeout"),
        ("X402FAC_T_CONFIRM_POLL", "workers.t.confirmPoll"),
        ("X402FAC_T_{net}_MAX_FEE_LAMPORTS", "workers.t.networks[].maxFeeLamports"),
        ("X402FAC_T_MAX_FEE_LAMPORTS", "workers.t.maxFeeLamports"),
    ]
    assert variables(Sample)[1].doc == "seconds between status polls"


def test_a_family_setting_is_read_and_checked_like_any_other() -> None:
    sample = load(
        Sample, {"X402FAC_T_CONFIRM_POLL": "0.25", "X402FAC_T_MAINNET_MAX_FEE_LAMPORTS": "9"}, net="MAINNET"
    )
    assert (sample.rpc_timeout, sample.confirm_poll, sample.max_fee_lamports) == (10.0, 0.25, 9)
    with pytest.raises(SettingsError, match="X402FAC_T_CONFIRM_POLL"):
        load(Sample, {"X402FAC_T_CONFIRM_POLL": "0"})
