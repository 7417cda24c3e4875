"""Key format and hashing, usage counters of one audit entry, whitelist address normalisation."""

import hashlib
import re

from x402fac.ledger.keys import KEY_PREFIX, key_hash, key_id, new_secret, valid_name
from x402fac.ledger.usage import ANONYMOUS, MAX_ELAPSED_MS, increments, kept_recent, unpacked
from x402fac.ledger.whitelist import normalize
from x402fac.protocol.ledger import AuditEvent

HOUR = 3600


def test_keys_are_prefixed_random_and_hashed():
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100
    for secret in secrets:
        assert re.fullmatch(r"x402n_[A-Za-z0-9_-]{43}", secret) and secret.startswith(KEY_PREFIX)
        assert key_hash(secret) == hashlib.sha256(secret.encode()).hexdigest()
        assert key_id(key_hash(secret)) == key_hash(secret)[:16]
    assert valid_name("my app") and not valid_name("") and not valid_name("x" * 65) and not valid_name("a\nb")


def test_a_settled_entry_is_one_increment_per_hour_holding_count_amount_and_time():
    event = AuditEvent(
        kind="settle",
        family="evm",
        network="eip155:8453",
        outcome="settled",
        at=10 * HOUR + 5,
        api_key_id="abc123",
        asset="0xUSDC",
        amount="1000000000000000000000000000000",
        elapsed_ms=42,
    )
    [(subject, value)] = increments(event)  # one write per settle, whatever it holds
    assert subject == "x402usage.abc123.h.10.settles.eip155=3A8453.settled.0xUSDC"
    assert unpacked("eip155=3A8453", "settled", "0xUSDC", value) == [
        ("settle", "eip155=3A8453", "settled", 1),
        ("amount", "eip155=3A8453", "0xUSDC", 10**30),
        ("settle_ms", "eip155=3A8453", "all", 42),
    ]  # days are summed from their hours when asked for


def test_packed_settle_counters_sum_exactly_field_by_field():
    """Summing packed increments (what the counter stream does) sums each figure on its own, even
    with amounts far beyond 64 bits and a forged elapsed time that would spill into the amount."""

    def settled(amount: int, elapsed_ms: int) -> int:
        event = AuditEvent(
            kind="settle",
            family="nano",
            network="nano:mainnet",
            outcome="settled",
            at=0.0,
            asset="XNO",
            amount=str(amount),
            elapsed_ms=elapsed_ms,
        )
        return increments(event)[0][1]

    amounts, times = [10**27, 2**64 - 1, 1, 2**200], [0, 7, 2**64 + 5, 1000]
    total = sum(settled(a, t) for a, t in zip(amounts, times, strict=True))
    assert unpacked("n", "settled", "XNO", total) == [
        ("settle", "n", "settled", 4),
        ("amount", "n", "XNO", sum(amounts)),
        ("settle_ms", "n", "all", 7 + MAX_ELAPSED_MS + 1000),
    ]


def test_refusals_and_verifies_add_no_amount_and_anonymous_is_its_own_key():
    failed = AuditEvent(
        kind="settle", family="nano", network="nano:mainnet", outcome="invalid_signature", at=0.0
    )
    refused_with_amount = AuditEvent(
        kind="settle", family="evm", network="eip155:1", outcome="rate_limited", at=0.0, asset="A", amount="5"
    )
    verify = AuditEvent(
        kind="verify", family="nano", network="nano:main.net", outcome="valid", at=0.0, amount="5"
    )
    [(subject, value)] = increments(failed)
    assert subject == f"x402usage.{ANONYMOUS}.h.0.settles.nano=3Amainnet.invalid_signature.-"
    assert unpacked("nano=3Amainnet", "invalid_signature", "-", value) == [
        ("settle", "nano=3Amainnet", "invalid_signature", 1)
    ]
    [(subject, value)] = increments(refused_with_amount)  # only a settled payment moved an amount
    assert subject.endswith(".rate_limited.-") and value == 1
    # dots never split a subject token, and a verify adds no amount
    assert dict(increments(verify)) == {
        f"x402usage.{ANONYMOUS}.h.0.verify.nano=3Amain=2Enet.valid": 1,
    }


def test_only_a_key_holder_s_settles_are_kept_in_its_recent_list():
    def event(kind: str, key: str) -> AuditEvent:
        return AuditEvent(
            kind=kind, family="evm", network="eip155:8453", outcome="settled", at=0.0, api_key_id=key
        )

    keyed, anonymous = event("settle", "abc123"), event("settle", ANONYMOUS)
    entry = [anonymous, keyed, event("verify", "abc123"), keyed]
    assert kept_recent(entry) == [(1, keyed), (3, keyed)]  # indexes in the entry name their Msg-Ids
    assert kept_recent([anonymous]) == []  # nobody signs in as _anon: its list is never shown


def test_whitelist_addresses_compare_evm_case_insensitively_only():
    assert normalize(" 0xAbCd ") == "0xabcd"
    assert normalize("nano_1Abc") == "nano_1Abc"
    assert (
        normalize("4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU")
        == "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
    )
