"""Who sent a request (forwarded headers only when configured, the rightmost untrusted hop) and
admission lanes (a full lane refuses at once, the others are unaffected)."""

import contextlib

import pytest

from x402fac.gateway.config import GatewayConfig
from x402fac.gateway.edge import ALL, Admission, client_ip
from x402fac.gateway.errors import GatewayError
from x402fac.settings import SettingsError, load
from x402fac.telemetry.metrics import REGISTRY


def test_forwarded_headers_are_ignored_without_trust_proxy():
    assert client_ip("127.0.0.1", ["192.0.2.1"], GatewayConfig()) == "127.0.0.1"


def test_a_trusted_proxy_gives_the_rightmost_hop():
    config = GatewayConfig(trust_proxy=True)
    assert client_ip("10.0.0.2", ["6.6.6.6, 198.51.100.7"], config) == "198.51.100.7"
    assert client_ip("10.0.0.2", ["6.6.6.6", "198.51.100.8"], config) == "198.51.100.8"  # repeated header
    assert client_ip("10.0.0.2", [], config) == "10.0.0.2"
    assert client_ip("10.0.0.2", ["not-an-address"], config) == "10.0.0.2"


def test_further_trusted_proxies_are_skipped_from_the_right_and_must_be_the_peer():
    config = GatewayConfig(trust_proxy=True, trusted_proxies=("10.0.0.0/8", "2001:db8::/32"))
    hops = ["6.6.6.6, 198.51.100.7, 10.1.2.3, 2001:db8::1"]
    assert client_ip("10.0.0.2", hops, config) == "198.51.100.7"
    assert client_ip("192.0.2.50", hops, config) == "192.0.2.50"  # not through our proxy: the peer
    assert client_ip("10.0.0.2", ["10.9.9.9"], config) == "10.9.9.9"  # only proxies: the furthest


def test_bad_proxy_and_discovery_settings_stop_the_start():
    with pytest.raises(SettingsError, match="X402FAC_TRUSTED_PROXIES"):
        load(GatewayConfig, {"X402FAC_TRUSTED_PROXIES": "10.0.0.0/8,not-a-network"})
    with pytest.raises(SettingsError, match="X402FAC_DISCOVERY_MIN_AMOUNTS"):
        load(GatewayConfig, {"X402FAC_DISCOVERY_MIN_AMOUNTS": "0xabc"})
    with pytest.raises(SettingsError, match="X402FAC_DISCOVERY_MIN_AMOUNT_NANO"):
        load(GatewayConfig, {"X402FAC_DISCOVERY_MIN_AMOUNT_NANO": "1e27"})


def test_a_full_lane_refuses_at_once_and_frees_its_place():
    admission = Admission(GatewayConfig(settle_in_flight=2, verify_in_flight=1, max_in_flight=10))
    with admission.admit("settle:evm"), admission.admit("settle:evm"):
        with pytest.raises(GatewayError) as refused, admission.admit("settle:evm"):
            pass
        assert (refused.value.status, refused.value.error, refused.value.retry_after) == (
            503,
            "overloaded",
            1,
        )
        with admission.admit("settle:nano"), admission.admit("verify:evm"), admission.admit(ALL):
            pass  # other lanes are unaffected
    with admission.admit("settle:evm"):  # the places were given back
        assert admission.in_flight["settle:evm"] == 1


def test_by_default_a_full_settle_lane_leaves_every_verify_place():
    """A flood of settles (each holding its process-wide place too) fills its lane, and the verify lane
    can still fill entirely: the defaults never let settles take verify's places."""
    config = GatewayConfig()
    admission = Admission(config)
    with contextlib.ExitStack() as held:
        for _ in range(config.settle_in_flight):
            held.enter_context(admission.admit(ALL))
            held.enter_context(admission.admit("settle:evm"))
        with pytest.raises(GatewayError):
            held.enter_context(admission.admit("settle:evm"))
        for _ in range(config.verify_in_flight):
            held.enter_context(admission.admit(ALL))
            held.enter_context(admission.admit("verify:evm"))
    assert admission.in_flight[ALL] == 0


def test_the_in_flight_gauge_reads_the_lanes_when_scraped():
    admission = Admission(GatewayConfig(settle_in_flight=3))

    def gauge() -> float | None:
        return REGISTRY.get_sample_value("x402fac_gateway_in_flight", {"lane": "settle:gauged"})

    with admission.admit("settle:gauged"), admission.admit("settle:gauged"):
        assert gauge() == 2.0
        with pytest.raises(GatewayError), admission.admit("settle:gauged"), admission.admit("settle:gauged"):
            pass
        assert gauge() == 2.0  # a refusal holds no place
    assert gauge() == 0.0
