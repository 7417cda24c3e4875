"""The payment-identifier extension through the real stack and two gateways: same id + same payment →
the stored answer and one transfer; same id + another payment → payment_identifier_conflict with
nothing settled; the one-success rule untouched for copies without the id; failures not stored."""

import asyncio
import time
import uuid

import httpx

from tests.integration.foundation.conftest import payment
from tests.unit.gateway.test_payment_identifier import with_identifier
from x402fac.gateway import payment_ids
from x402fac.protocol.ledger import PaymentIdStatus


def fresh(**payload) -> dict:
    return payment(uuid.uuid4().hex, payer="payer-" + uuid.uuid4().hex, **payload)


async def test_same_id_and_payment_get_the_stored_answer_across_gateways(product_stack):
    stack, scheme = product_stack
    identifier = "pay_" + uuid.uuid4().hex
    body = with_identifier(fresh(), identifier)
    async with httpx.AsyncClient(timeout=30) as http:
        first = (await http.post(stack.gateway_url + "/settle", json=body)).json()
        again = (await http.post(stack.gateways[0].url + "/settle", json=body)).json()
        under_facilitator = (await http.post(stack.gateways[0].url + "/facilitator/settle", json=body)).json()
        without_id = dict(body, paymentPayload=dict(body["paymentPayload"], extensions=None))
        copy = (await http.post(stack.gateway_url + "/settle", json=without_id)).json()
    assert first["success"] is True
    assert again == first == under_facilitator  # the stored answer, byte for byte the same fields
    assert scheme.broadcasts[first["transaction"]] == 1  # one transfer
    assert copy["success"] is False and copy["errorReason"] == "duplicate_settlement"


async def test_concurrent_copies_with_one_id_settle_once_and_all_get_the_answer(product_stack):
    stack, scheme = product_stack
    body = with_identifier(fresh(), "pay_" + uuid.uuid4().hex)
    bases = [stack.gateway_url, stack.gateways[0].url]
    async with httpx.AsyncClient(timeout=30) as http:
        answers = await asyncio.gather(*(http.post(bases[i % 2] + "/settle", json=body) for i in range(6)))
    bodies = [a.json() for a in answers]
    assert all(a.status_code == 200 for a in answers)
    assert all(b["success"] is True for b in bodies), bodies
    assert len({b["transaction"] for b in bodies}) == 1
    assert scheme.broadcasts[bodies[0]["transaction"]] == 1


async def test_same_id_with_another_payment_is_refused_and_settles_nothing(product_stack):
    stack, scheme = product_stack
    identifier = "pay_" + uuid.uuid4().hex
    payer = "payer-" + uuid.uuid4().hex
    first = with_identifier(payment(uuid.uuid4().hex, payer=payer), identifier)
    other = with_identifier(payment(uuid.uuid4().hex, payer=payer), identifier)
    async with httpx.AsyncClient(timeout=30) as http:
        settled = (await http.post(stack.gateway_url + "/settle", json=first)).json()
        conflict = (await http.post(stack.gateways[0].url + "/settle", json=other)).json()
        status = (await http.post(stack.gateways[0].url + "/settle", json=other)).status_code
    assert settled["success"] is True
    assert conflict["success"] is False and conflict["errorReason"] == "payment_identifier_conflict"
    assert conflict["transaction"] == "" and status == 200
    assert scheme.broadcasts[f"tx-test/{other['paymentPayload']['payload']['id']}"] == 0  # nothing sent


async def test_an_id_is_its_payers_own_and_a_forgery_cannot_take_it(product_stack):
    """Another payer's payment with the same id settles; a forgery naming the victim as payer, sent
    first with the victim's id, claims nothing (its payer is not authenticated), so the victim's
    payment with that id settles and replays."""
    stack, scheme = product_stack
    identifier = "pay_" + uuid.uuid4().hex
    victim = "payer-" + uuid.uuid4().hex
    forged = with_identifier(payment(uuid.uuid4().hex, payer=victim, forged=True), identifier)
    genuine = with_identifier(payment(uuid.uuid4().hex, payer=victim), identifier)
    stranger = with_identifier(fresh(), identifier)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        first = (await http.post("/settle", json=stranger)).json()
        forgery = (await http.post("/settle", json=forged)).json()
        settled = (await http.post("/settle", json=genuine)).json()
        replay = (await http.post("/settle", json=genuine)).json()
    assert first["success"] is True
    assert forgery["success"] is False and forgery["errorReason"] == "invalid_signature"
    assert settled["success"] is True and replay == settled
    assert scheme.broadcasts[settled["transaction"]] == 1


async def test_a_failed_settle_is_not_stored_and_releases_the_id(product_stack):
    stack, scheme = product_stack
    identifier = "pay_" + uuid.uuid4().hex
    refused = with_identifier(fresh(valid=False), identifier)
    good = with_identifier(fresh(), identifier)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        failed = (await http.post("/settle", json=refused)).json()
        settled = (await http.post("/settle", json=good)).json()
        replay = (await http.post("/settle", json=good)).json()
    assert failed["success"] is False and failed["errorReason"] == "invalid_signature"
    assert settled["success"] is True and replay == settled
    assert scheme.broadcasts[settled["transaction"]] == 1


async def test_a_malformed_id_is_refused_on_verify_and_settle(product_stack):
    stack, scheme = product_stack
    body = with_identifier(fresh(), "short")
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        verify = (await http.post("/verify", json=body)).json()
        settle = (await http.post("/settle", json=body)).json()
    assert verify["isValid"] is False and verify["invalidReason"] == "invalid_payment_identifier"
    assert settle["success"] is False and settle["errorReason"] == "invalid_payment_identifier"
    assert scheme.arrivals[body["paymentPayload"]["payload"]["id"]] == 0


async def test_a_claim_abandoned_without_an_answer_is_taken_over_by_any_payment_of_its_payer(product_stack):
    """A claim left behind (its request's deadline passed, nothing stored: a gateway died between
    claim and finish) blocks its payer's id only until that deadline; other payers never see it."""
    stack, _ = product_stack
    identifier, payer = "pay_" + uuid.uuid4().hex, "payer-" + uuid.uuid4().hex
    now = time.time()
    left = await payment_ids.claim(stack.nc, payer, identifier, "a" * 64, "r1", now + 0.5)
    live = await payment_ids.claim(stack.nc, payer, identifier, "b" * 64, "r2", now + 30)
    elsewhere = await payment_ids.claim(
        stack.nc, "payer-" + uuid.uuid4().hex, identifier, "a" * 64, "r3", now + 30
    )
    await asyncio.sleep(max(0.0, now + 0.6 - time.time()))
    taken = await payment_ids.claim(stack.nc, payer, identifier, "b" * 64, "r2", time.time() + 30)
    assert [r.status for r in (left, live, elsewhere, taken)] == [
        PaymentIdStatus.NEW,
        PaymentIdStatus.CONFLICT,
        PaymentIdStatus.NEW,
        PaymentIdStatus.NEW,
    ]
