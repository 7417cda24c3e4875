"""A service's settings named by its one rule: X402FAC_KEY, set by the Helm value <section>.key
(camel-cased, without the section's own name), and a float setting above zero unless declared
otherwise."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from x402fac.settings import SectionSettings, SettingsError, load, variables

S = SectionSettings("svc")


@dataclass(frozen=True, slots=True)
class Sample:
    port: int = S("SVC_PORT", 80, minimum=1, maximum=65535)
    wait_seconds: float = S("WAIT_SECONDS", 1.5)
    limit: int = S("LIMIT", 3, minimum=0)
    offset: float = S("OFFSET", 0.0, positive=False)
    token: str = S("TOKEN", "", values="svc.token.existingSecret", secret=True)


def test_names_and_helm_values_follow_the_section_rule() -> None:
    helm_value = {variable.name: variable.values for variable in variables(Sample)}
    assert helm_value == {
        "X402FAC_SVC_PORT": "svc.port",  # the section's own name is not repeated
        "X402FAC_WAIT_SECONDS": "svc.waitSeconds",
        "X402FAC_LIMIT": "svc.limit",
        "X402FAC_OFFSET": "svc.offset",
        "X402FAC_TOKEN": "svc.token.existingSecret",  # named where another value sets it
    }


def test_a_float_must_be_above_zero_an_int_need_not() -> None:
    assert load(Sample, {"X402FAC_LIMIT": "0", "X402FAC_OFFSET": "0"}) == Sample(limit=0, offset=0.0)
    for bad in ("0", "-1"):
        with pytest.raises(SettingsError, match="X402FAC_WAIT_SECONDS must be a positive number"):
            load(Sample, {"X402FAC_WAIT_SECONDS": bad})
    with pytest.raises(SettingsError, match="X402FAC_SVC_PORT must be at least 1"):
        load(Sample, {"X402FAC_SVC_PORT": "0"})


def test_a_float_declared_with_a_maximum_refuses_more() -> None:
    @dataclass(frozen=True, slots=True)
    class Bounded:
        wait_seconds: float = S("WAIT_SECONDS", 1.5, maximum=10)

    assert load(Bounded, {"X402FAC_WAIT_SECONDS": "10"}) == Bounded(wait_seconds=10.0)
    with pytest.raises(SettingsError, match="X402FAC_WAIT_SECONDS must be at most 10"):
        load(Bounded, {"X402FAC_WAIT_SECONDS": "10.5"})


def test_the_settle_timeout_stays_below_the_work_streams_duplicate_window() -> None:
    """A settle whose publish was not acknowledged is published again under its id until its deadline:
    past the stream's duplicate window a second copy would be stored."""
    from x402fac.bus.subjects import WORK_DUPLICATE_WINDOW_SECONDS
    from x402fac.gateway.config import GatewayConfig

    longest = load(GatewayConfig, {"X402FAC_SETTLE_TIMEOUT": "110"}).settle_timeout
    assert longest < WORK_DUPLICATE_WINDOW_SECONDS
    with pytest.raises(SettingsError, match="X402FAC_SETTLE_TIMEOUT must be at most 110"):
        load(GatewayConfig, {"X402FAC_SETTLE_TIMEOUT": str(WORK_DUPLICATE_WINDOW_SECONDS)})
