"""HTTP -> gateway -> NATS -> worker pipeline -> ledger, with the foundation's guarantees."""

import asyncio
import json
import uuid

import httpx

from tests.fixtures.stack import Stack
from x402fac.bus import access, connect
from x402fac.bus.workqueue import REPLY_PREFIX, SUCCESS_HEADER
from x402fac.worker import LedgerClient

from .conftest import TEST_NETWORK, payment, payment_id_of


def new_id() -> str:
    return uuid.uuid4().hex


async def test_verify_and_settle_round_trip(book_stack):
    stack, _ = book_stack
    body = payment(new_id())
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        verified = await http.post("/verify", json=body)
        settled = await http.post("/facilitator/settle", json=body)
    assert verified.status_code == 200
    assert verified.json() == {"isValid": True, "payer": "alice"}
    assert settled.status_code == 200
    result = settled.json()
    assert result["success"] is True
    assert result["transaction"] == f"tx-test/{body['paymentPayload']['payload']['id']}"
    assert result["network"] == TEST_NETWORK and result["amount"] == "1000"


async def test_invalid_payment_is_200_with_reason(book_stack):
    stack, _ = book_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        verified = await http.post("/verify", json=payment(new_id(), valid=False))
        settled = await http.post("/settle", json=payment(new_id(), valid=False))
    assert verified.status_code == 200
    assert verified.json()["invalidReason"] == "invalid_signature"
    assert settled.json() == {
        "success": False,
        "transaction": "",
        "network": TEST_NETWORK,
        "errorReason": "invalid_signature",
        "errorMessage": "test says invalid",
        "payer": "alice",
    }


async def test_same_settle_twice_succeeds_once(book_stack):
    stack, scheme = book_stack
    body = payment(new_id(), payer="carol")
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        first = (await http.post("/settle", json=body)).json()
        second = (await http.post("/settle", json=body)).json()
    assert first["success"] is True
    assert second["success"] is False and second["errorReason"] == "duplicate_settlement"
    assert second["transaction"] == first["transaction"]
    assert "already settled" in second["errorMessage"]
    assert scheme.broadcasts[first["transaction"]] == 1


async def test_fifty_concurrent_copies_one_success(book_stack):
    stack, scheme = book_stack
    body = payment(new_id(), payer="dave")
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        answers = await asyncio.gather(*(http.post("/settle", json=body) for _ in range(50)))
    results = [a.json() for a in answers]
    tx = f"tx-test/{body['paymentPayload']['payload']['id']}"
    assert scheme.broadcasts[tx] == 1
    assert sum(r["success"] for r in results) == 1
    assert all(r["success"] or r["errorReason"] == "duplicate_settlement" for r in results)
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        final = (await http.post("/settle", json=body)).json()
    assert final["errorReason"] == "duplicate_settlement" and final["transaction"] == tx


async def test_payer_rate_limited_after_limit(book_stack):
    stack, _ = book_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        results = [
            (await http.post("/settle", json=payment(new_id(), payer="erin"))).json() for _ in range(4)
        ]
    assert [r["success"] for r in results[:3]] == [True, True, True]
    assert results[3]["success"] is False and results[3]["errorReason"] == "rate_limited"


async def test_late_confirmation_is_pending_then_final_on_retry(book_stack):
    stack, scheme = book_stack
    body = payment(new_id(), payer="frank", confirm_after=2.5, max_timeout=1)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        first = (await http.post("/settle", json=body)).json()
        assert first["errorReason"] == "settlement_pending"
        assert first["transaction"].startswith("tx-test/")
        await asyncio.sleep(2.0)
        second = (await http.post("/settle", json=body)).json()
        third = (await http.post("/settle", json=body)).json()
    assert second["success"] is True and second["transaction"] == first["transaction"]
    assert third["errorReason"] == "duplicate_settlement" and third["transaction"] == first["transaction"]
    assert scheme.broadcasts[first["transaction"]] == 1


async def test_reconciler_completes_pending_record_without_retry(book_stack):
    stack, scheme = book_stack
    body = payment(new_id(), payer="gina", confirm_after=1.5, max_timeout=1)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        first = (await http.post("/settle", json=body)).json()
    assert first["errorReason"] == "settlement_pending"
    payment_id = payment_id_of(body)
    worker = stack.workers[0]
    for _ in range(100):
        moved = await worker.pipeline.reconcile_once(older_than_seconds=0)
        found = await worker.pipeline.ledger.lookup(payment_id)
        if found.record and found.record.response:
            break
        await asyncio.sleep(0.1 if not moved else 0)
    assert found.record.state == "settled"
    assert found.record.response.success is True
    # the reconciler judged the record with the hint its submitter stored
    assert found.record.hint == f"hint-{payment_id}"
    assert f"hint-{payment_id}" in scheme.hints


async def test_v1_body_converted_and_legacy_network_returned(book_stack):
    stack, _ = book_stack
    body = {
        "x402Version": 1,
        "paymentPayload": {
            "x402Version": 1,
            "scheme": "exact",
            "network": "base-sepolia",
            "payload": {"id": new_id()},
        },
        "paymentRequirements": {
            "scheme": "exact",
            "network": "base-sepolia",
            "maxAmountRequired": "5",
            "resource": "https://example.com/r",
            "description": "",
            "mimeType": "application/json",
            "payTo": "bob",
            "maxTimeoutSeconds": 5,
            "asset": "TEST",
        },
    }
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        answer = await http.post("/v1/settle", json=body)
    # eip155:84532 is not served by the test worker: the answer names the legacy network back
    assert answer.status_code == 200
    assert answer.json()["errorReason"] == "unsupported_network"
    assert answer.json()["network"] == "base-sepolia"


async def test_pending_listing_on_an_empty_ledger():
    stack = await Stack.start()
    try:
        reply = await LedgerClient(stack.nc).pending("evm", older_than_seconds=0)
        assert reply.records == [] and reply.revisions == []
    finally:
        await stack.close()


async def test_same_payment_in_different_bytes_still_settles_once(book_stack):
    """Copies that differ in bytes (spacing, key order) pass the gateway; the ledger claim holds."""
    stack, scheme = book_stack
    body = payment(new_id(), payer="hank")
    compact = json.dumps(body, separators=(",", ":")).encode()
    spaced = json.dumps(body, indent=1, sort_keys=True).encode()
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        answers = await asyncio.gather(
            *(http.post("/settle", content=copy, headers=headers) for copy in [compact, spaced] * 10)
        )
    results = [a.json() for a in answers]
    payment_id = body["paymentPayload"]["payload"]["id"]
    assert scheme.broadcasts[f"tx-test/{payment_id}"] == 1
    assert sum(r["success"] for r in results) == 1
    assert sum(r.get("errorReason") == "duplicate_settlement" for r in results) == 19


async def test_only_a_success_waits_to_hear_it_was_taken(book_stack):
    """A worker learns whether its gateway took a success (2.5: one not taken is let go); any other
    answer is let go before it is sent, so it goes as one plain message, with nothing to confirm."""
    stack, _ = book_stack
    spy = await connect(stack.nats_url, name="test-spy", credentials=stack.nats.credentials(access.GATEWAY))
    seen: list = []

    async def heard(msg) -> None:
        seen.append(msg)

    await spy.subscribe(f"{REPLY_PREFIX}.>", cb=heard)
    await spy.flush()
    payer = f"payer-{new_id()}"  # this test's answers among whatever else the module's stack answers
    try:
        async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
            settled = (await http.post("/settle", json=payment(new_id(), payer=payer))).json()
            refused = (await http.post("/settle", json=payment(new_id(), payer=payer, valid=False))).json()
        await spy.flush()
    finally:
        await spy.close()
    assert settled["success"] is True and refused["errorReason"] == "invalid_signature"
    mine = [msg for msg in seen if json.loads(msg.data).get("payer") == payer]
    answers = {json.loads(msg.data)["success"]: msg for msg in mine}
    assert len(mine) == 2 and set(answers) == {True, False}
    assert answers[True].reply and answers[True].headers[SUCCESS_HEADER] == "1"
    assert not answers[False].reply and not (answers[False].headers or {}).get(SUCCESS_HEADER)
