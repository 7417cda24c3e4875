"""How the gateway reads a key from headers, caches answers, and summarises usage for the dashboard."""

from x402fac.gateway.auth import KEY_FORMAT, TtlCache, presented_key
from x402fac.gateway.views import explorer_link, summarize
from x402fac.protocol.ledger import UsageReply, UsageRow


def test_presented_key_from_either_header():
    assert presented_key({}) is None
    assert presented_key({"x-api-key": " x402n_a "}) == "x402n_a"
    assert presented_key({"authorization": "Bearer x402n_b"}) == "x402n_b"
    assert presented_key({"authorization": "bearer   x402n_c"}) == "x402n_c"
    # anything else presented is a key that will not match: 401, never anonymous
    assert presented_key({"authorization": "Basic dXNlcg=="}) == "Basic dXNlcg=="
    assert presented_key({"x-api-key": ""}) == ""
    assert not KEY_FORMAT.fullmatch("x402n_short") and KEY_FORMAT.fullmatch("x402n_" + "a" * 43)


def test_cache_expires_and_is_bounded():
    cache = TtlCache(ttl=-1.0)
    cache.put("k", "v")
    assert cache.get("k") == (False, None)  # already expired
    cache = TtlCache(ttl=60.0, size=2)
    for key in "abc":
        cache.put(key, key.upper())
    assert cache.get("a") == (False, None) and cache.get("c") == (True, "C")
    cache.put("none", None)
    assert cache.get("none") == (True, None)  # unknown keys are cached too


def test_summary_of_usage_rows():
    rows = [
        UsageRow(10, "verify", "eip155:8453", "valid", "5", "k1"),
        UsageRow(10, "verify", "eip155:8453", "invalid_signature", "2", "k1"),
        UsageRow(11, "settle", "eip155:8453", "settled", "3", "k1"),
        UsageRow(11, "settle", "eip155:8453", "duplicate_settlement", "1", "k1"),
        UsageRow(11, "amount", "eip155:8453", "0xUSDC", str(10**30), "k1"),
        UsageRow(11, "settle_ms", "eip155:8453", "all", "80", "k1"),
        UsageRow(9, "verify", "eip155:8453", "valid", "100", "k1"),  # outside the periods shown
    ]
    summary = summarize(UsageReply("k1", "h", rows), [10, 11])
    assert summary["series"] == {"verify": [7, 0], "settle": [0, 4], "settled": [0, 3], "failed": [0, 1]}
    assert summary["errors"] == {"invalid_signature": 2, "duplicate_settlement": 1}
    assert summary["amounts"] == {"eip155:8453": {"0xUSDC": str(10**30)}}
    assert summary["settleLatencyMs"] == 20 and summary["keys"]["k1"] == {"verify": 107, "settle": 4}


def test_explorer_links_per_network():
    assert explorer_link("eip155:8453", "0xab") == "https://basescan.org/tx/0xab"
    assert explorer_link("solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1", "sig").endswith("sig?cluster=devnet")
    assert explorer_link("nano:devnet", "ABC") == "" and explorer_link("eip155:8453", "") == ""
