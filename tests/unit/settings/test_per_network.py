"""Per-network settings: fields whose variable names carry `{net}`, read for one network by `load`,
with a worker-wide twin when declared so; the catalogue gives every one of them a default."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from x402fac.cli.settings import catalogue
from x402fac.settings import SettingsError, load, setting, source, variables


@dataclass(frozen=True, slots=True)
class Sample:
    timeout: float = setting("X402FAC_T_TIMEOUT", 2.0, values="workers.t.timeout", positive=True)
    urls: tuple[str, ...] = setting("X402FAC_T_{net}_RPC_URLS", (), values="workers.t.networks[].rpcUrls")
    limit: int = setting(
        "X402FAC_T_{net}_LIMIT", 40, values="workers.t.networks[].limit", minimum=1, worker_wide=True
    )
    keys: tuple[str, ...] = setting(
        "X402FAC_T_{net}_KEYS",
        (),
        values="workers.t.networks[].keys",
        worker_wide={"values": "workers.t.keys.existingSecret", "secret": True},
    )


def test_a_network_reads_its_own_variables_and_else_the_worker_wide_twin() -> None:
    env = {
        "X402FAC_T_TIMEOUT": "3",
        "X402FAC_T_MAIN_RPC_URLS": "http://a, http://b",
        "X402FAC_T_OTHER_RPC_URLS": "http://c",
        "X402FAC_T_LIMIT": "7",
        "X402FAC_T_OTHER_LIMIT": "9",
        "X402FAC_T_KEYS": "k1",
    }
    main, other = load(Sample, env, net="MAIN"), load(Sample, env, net="OTHER")
    assert main == Sample(timeout=3.0, urls=("http://a", "http://b"), limit=7, keys=("k1",))
    assert other == Sample(timeout=3.0, urls=("http://c",), limit=9, keys=("k1",))
    assert load(Sample, {}, net="MAIN") == Sample()  # the declared defaults
    # a blank value is unset: the twin still applies
    assert load(Sample, {**env, "X402FAC_T_MAIN_LIMIT": " "}, net="MAIN").limit == 7


def test_without_a_network_only_the_worker_wide_twins_are_read() -> None:
    env = {"X402FAC_T_LIMIT": "5", "X402FAC_T_MAIN_LIMIT": "6", "X402FAC_T_MAIN_RPC_URLS": "http://a"}
    assert load(Sample, env) == Sample(limit=5)


def test_a_bad_value_names_the_variable_it_was_read_from() -> None:
    with pytest.raises(SettingsError, match="X402FAC_T_MAIN_LIMIT must be at least 1"):
        load(Sample, {"X402FAC_T_MAIN_LIMIT": "0"}, net="MAIN")
    with pytest.raises(SettingsError, match="X402FAC_T_LIMIT must be an integer"):
        load(Sample, {"X402FAC_T_LIMIT": "many"}, net="MAIN")
    env = {"X402FAC_T_KEYS": "shared"}
    assert source(Sample, "keys", env, net="MAIN") == "X402FAC_T_KEYS"
    assert source(Sample, "keys", {**env, "X402FAC_T_MAIN_KEYS": "own"}, net="MAIN") == "X402FAC_T_MAIN_KEYS"
    assert source(Sample, "urls", env, net="MAIN") == "X402FAC_T_MAIN_RPC_URLS"


def test_the_twins_are_declared_next_to_their_settings() -> None:
    names = [(v.name, v.values, v.secret) for v in variables(Sample)]
    assert names == [
        ("X402FAC_T_TIMEOUT", "workers.t.timeout", False),
        ("X402FAC_T_{net}_RPC_URLS", "workers.t.networks[].rpcUrls", False),
        ("X402FAC_T_{net}_LIMIT", "workers.t.networks[].limit", False),
        ("X402FAC_T_LIMIT", "workers.t.limit", False),
        ("X402FAC_T_{net}_KEYS", "workers.t.networks[].keys", False),
        ("X402FAC_T_KEYS", "workers.t.keys.existingSecret", True),
    ]
    with pytest.raises(TypeError, match="only a per-network setting"):
        setting("X402FAC_T_WIDE", 1, values=None, worker_wide=True)


def test_every_variable_of_the_catalogue_has_a_default_and_per_network_ones_a_network_value() -> None:
    for variable in catalogue():
        assert variable.default is not None, variable.name
        if "{net}" in variable.name:
            assert variable.name.count("{net}") == 1 and variable.name.startswith("X402FAC_")
            assert variable.values and ".networks[]." in variable.values, variable.name
