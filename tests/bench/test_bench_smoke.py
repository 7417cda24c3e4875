"""The benchmark harness stays runnable: a tiny run of x402fac and the Python reference on fresh anvils.

Not a benchmark (no timing is asserted): it checks that every part of `make bench` still fits together
(payment signing, targets, load generator, CPU accounting, on-chain cross-check, report files).
The TypeScript references are left out: they need `npm ci` from the registry, which a test must not.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import evm, report
from bench.runner import Bench, Options
from bench.workloads import Workload


def test_presigned_payment_matches_eth_account() -> None:
    """The harness's fast signer produces exactly eth_account's EIP-712 signature."""
    import json

    from eth_account import Account

    from tests.fixtures.evm import sign_authorization

    payer = evm.Payer.create()
    pay_to = evm.new_address()
    nonce = bytes(range(32))
    payment = evm.sign_payment(payer, pay_to, 1234, 2_000_000_000, nonce, evm.domain_separator())
    authorization, signature = sign_authorization(
        Account.from_key(payer.key),
        {"chainId": 84532, "usdc": {"address": evm.USDC_ADDRESS}},
        to=pay_to,
        value=1234,
        valid_after=0,
        valid_before=2_000_000_000,
        nonce=nonce,
    )
    payload = json.loads(payment.body)["paymentPayload"]["payload"]
    assert payload["authorization"] == authorization
    assert payload["signature"] == "0x" + signature.hex()


async def test_bench_smoke(tmp_path: Path) -> None:
    workloads = [
        Workload("evm-verify-c2", "evm", "automine", "verify", "closed", 2, 1.0, 12),
        Workload("evm-settle-c2", "evm", "automine", "settle", "closed", 2, 1.0, 6),
        Workload("evm-dup-x3", "evm", "automine", "duplicate", "burst", 3, 1, 1),
    ]
    bench = Bench(
        Options(["x402fac", "python"], workloads, quick=True, scaling=False, payers=4, say=lambda _: None)
    )
    results = await bench.run()

    assert [s.get("error") for s in results.sessions] == [None, None]
    for name, entry in results.workloads.items():
        for target, summary in entry["targets"].items():
            if name == "evm-dup-x3":
                assert summary["ok"] >= 1, (target, summary)
            else:
                assert summary["ok"] == summary["requests"] > 0, (name, target, summary)
            assert summary["cpu_ms_per_req"]["facilitator"] >= 0
    for target in ("x402fac", "python"):
        assert results.workloads["evm-settle-c2"]["targets"][target]["onchain"]["consistent"]
    dup = results.workloads["evm-dup-x3"]["targets"]["x402fac"]["onchain"]
    assert (dup["transactions_mined"], dup["gas_burnt_on_reverts"]) == (1, 0)
    # one copy succeeds, the other two are told the payment was taken
    assert dup["ok_answers"] == 1 and dup["one_success_per_payment"]
    assert dup["duplicate_answers"] == {"duplicate_settlement": 2}

    paths = report.write(
        {"meta": _meta(), "micro": {}, "workloads": results.workloads, "sessions": results.sessions}, tmp_path
    )
    assert paths[2].read_bytes().startswith(b"\x89PNG")
    assert "evm-settle-c2" in paths[1].read_text()
    # the cost table: every target's CPU per request, x402fac's split over its own processes
    cost = json.loads(paths[0].read_text())["cpu_per_request"]["evm"]["evm-verify-c2"]
    assert set(cost["targets"]) == {"x402fac", "python"}
    assert {"gateway", "ledger", "nats-server"} <= set(cost["x402fac_by_process"])
    assert "## Cost per request: facilitator CPU" in paths[1].read_text()


def _meta() -> dict:
    return {
        "date": "test",
        "command": "pytest",
        "commit": "test",
        "quick": True,
        "cpus": 1,
        "cpu_model": "test",
        "load_before": [0, 0, 0],
        "load_after": [0, 0, 0],
        "versions": {},
        "targets": ["x402fac", "python"],
        "target_descriptions": {"x402fac": "", "python": ""},
        "evm_payments": 0,
    }
