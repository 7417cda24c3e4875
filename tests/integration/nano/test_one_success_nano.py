"""One payment, one success, on Nano through the real stack: copies are told `duplicate_settlement`,
forgeries leave no ledger state, and a settle whose caller gave up keeps its success for the retry."""

import asyncio
import json

import httpx

from tests.fixtures.nano import (
    XNO,
    NanoAccount,
    nano_payment,
    nano_payment_body,
    nano_received,
    nano_requirements,
)
from tests.fixtures.stack import JSON_FORMATS

PRICE = 10**27


async def test_second_settle_is_a_duplicate(stack, nano_worker, nano_rpc, nano_devnet, nano_funded_account):
    payer, pay_to = await nano_funded_account(XNO), NanoAccount.generate()
    block, body = await nano_payment(nano_rpc, nano_devnet, payer, pay_to, PRICE)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        first = (await http.post("/settle", json=body)).json()
        second = (await http.post("/settle", json=body)).json()
        verified = (await http.post("/verify", json=body)).json()
    block_hash = block.hash.hex().upper()
    assert first["success"] is True and first["transaction"] == block_hash
    assert second["success"] is False
    assert second["errorReason"] == "duplicate_settlement"
    assert second["transaction"] == block_hash
    assert "already settled" in second["errorMessage"]
    assert verified["isValid"] is False and verified["invalidReason"] == "block_already_exists"
    assert await nano_received(nano_rpc, pay_to) == PRICE


async def test_ten_copies_over_two_gateways_one_success(
    stack, nano_worker, nano_rpc, nano_devnet, nano_funded_account
):
    payer, pay_to = await nano_funded_account(XNO), NanoAccount.generate()
    block, body = await nano_payment(nano_rpc, nano_devnet, payer, pay_to, PRICE)
    copies = [json.dumps(body, **JSON_FORMATS[i % 5]) for i in range(10)]
    answers = await stack.settle_over_two_gateways(copies)
    results = [answer.json() for answer in answers]
    block_hash = block.hash.hex().upper()
    assert [a.status_code for a in answers] == [200] * 10
    assert sum(r["success"] for r in results) == 1
    duplicates = [r for r in results if not r["success"]]
    assert len(duplicates) == 9
    assert all(r["errorReason"] == "duplicate_settlement" for r in duplicates)
    assert all(r["transaction"] in (block_hash, "") for r in duplicates)
    assert nano_devnet.devnet.process_requests[block_hash] == 1
    assert await nano_received(nano_rpc, pay_to) == PRICE


async def test_forged_blocks_leave_no_ledger_state(
    stack, nano_worker, nano_rpc, nano_devnet, nano_funded_account
):
    payer, pay_to = await nano_funded_account(XNO), NanoAccount.generate()
    before = await stack.payer_settles(payer.address)
    forged = []
    for _ in range(12):
        block, _ = await nano_payment(nano_rpc, nano_devnet, payer, pay_to, PRICE)
        impostor = NanoAccount.generate()
        fake = block.signed(impostor.secret_key)  # names the payer, signed by somebody else
        requirements = nano_requirements(nano_devnet, pay_to.address, PRICE)
        forged.append((fake, nano_payment_body(requirements, fake.to_json())))
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        answers = [(await http.post("/settle", json=body)).json() for _, body in forged]
        assert all(a["errorReason"] == "invalid_signature" for a in answers), answers
        for fake, _ in forged:
            assert await stack.ledger_record(fake.hash.hex().upper()) is None
        assert await stack.payer_settles(payer.address) == before
        _, own = await nano_payment(nano_rpc, nano_devnet, payer, pay_to, PRICE)
        settled = (await http.post("/settle", json=own)).json()
    assert settled["success"] is True
    assert await stack.payer_settles(payer.address) == before + 1


async def test_caller_gives_up_then_retry_gets_the_one_success(
    stack, nano_worker, nano_rpc, nano_devnet, nano_funded_account
):
    payer, pay_to = await nano_funded_account(XNO), NanoAccount.generate()
    block, body = await nano_payment(nano_rpc, nano_devnet, payer, pay_to, PRICE)
    block_hash = block.hash.hex().upper()
    impatient = await stack.add_gateway(settle_timeout=2.0)
    await nano_rpc.call("devnet_hold_confirmations", account=payer.address)
    async with httpx.AsyncClient(timeout=30) as http:
        try:
            first = (await http.post(impatient.url + "/settle", json=body)).json()
        finally:
            await nano_rpc.call("devnet_release_confirmations", account=payer.address)
        assert first["success"] is False
        assert first["errorReason"] == "settlement_pending"
        assert first["transaction"] == block_hash
        await nano_rpc.wait_confirmed(block_hash)
        second = (await http.post(impatient.url + "/settle", json=body)).json()
        third = (await http.post(stack.gateway_url + "/settle", json=body)).json()
    assert second["success"] is True and second["transaction"] == block_hash
    assert third["errorReason"] == "duplicate_settlement" and third["transaction"] == block_hash
    assert nano_devnet.devnet.process_requests[block_hash] == 1


async def test_caller_hangs_up_then_retry_gets_the_one_success(
    stack, nano_worker, nano_rpc, nano_devnet, nano_funded_account
):
    payer, pay_to = await nano_funded_account(XNO), NanoAccount.generate()
    block, body = await nano_payment(nano_rpc, nano_devnet, payer, pay_to, PRICE)
    block_hash = block.hash.hex().upper()
    await nano_rpc.call("devnet_hold_confirmations", account=payer.address)
    try:
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=1.0) as http:
            try:
                await http.post("/settle", json=body)
                raise AssertionError("the settle answered although confirmations are held")
            except httpx.TimeoutException:
                pass  # the client hung up while the worker waits for the confirmation
        for _ in range(100):  # the worker was told; the gateway's hang-up reaches the ledger
            record = await stack.ledger_record(block_hash)
            if record is not None and not record.attached:
                break
            await asyncio.sleep(0.05)
        assert record is not None and record.attached == ""
    finally:
        await nano_rpc.call("devnet_release_confirmations", account=payer.address)
    await nano_rpc.wait_confirmed(block_hash)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        retried = (await http.post("/settle", json=body)).json()
        again = (await http.post("/settle", json=body)).json()
    assert retried["success"] is True and retried["transaction"] == block_hash
    assert again["errorReason"] == "duplicate_settlement"
    assert nano_devnet.devnet.process_requests[block_hash] == 1
