"""The Nano worker through the real stack (gateway -> NATS -> worker -> ledger) against the devnet.

Every failure case answers its precise reason; settle publishes a block at most once.
"""

import asyncio

import httpx
import pytest

from tests.fixtures.nano import (
    XNO,
    NanoAccount,
    nano_payment_body,
    nano_requirements,
    nano_send_block,
    publish_rival,
)

PRICE = 10**27  # 0.001 XNO


@pytest.fixture
async def gateway(stack, nano_worker):
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        yield http


async def payment(
    nano_rpc, nano_devnet, payer, pay_to: NanoAccount, *, amount=PRICE, price=PRICE, **requirement_changes
):
    block = await nano_send_block(nano_rpc, nano_devnet, payer, pay_to.public_key, amount)
    requirements = nano_requirements(nano_devnet, pay_to.address, price, **requirement_changes)
    return block, nano_payment_body(requirements, block.to_json())


async def verify(gateway, body) -> dict:
    answer = await gateway.post("/verify", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def settle(gateway, body) -> dict:
    answer = await gateway.post("/settle", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_supported_lists_devnet_kind(gateway, nano_devnet):
    for _ in range(50):
        kinds = (await gateway.get("/supported")).json()["kinds"]
        nano = [k for k in kinds if k["network"] == "nano:devnet"]
        if nano:
            break
        await asyncio.sleep(0.1)
    assert nano == [
        {
            "x402Version": 2,
            "scheme": "exact",
            "network": "nano:devnet",
            "extra": {
                "asset": "XNO",
                "work": "required",
                "workThreshold": nano_devnet.info["workThresholds"]["send"],
            },
        }
    ]


async def test_verify_then_settle_moves_exactly_the_price(
    gateway, nano_rpc, nano_devnet, nano_funded_account
):
    payer = await nano_funded_account(XNO)
    pay_to = NanoAccount.generate()
    block, body = await payment(nano_rpc, nano_devnet, payer, pay_to)
    assert await verify(gateway, body) == {"isValid": True, "payer": payer.address}
    result = await settle(gateway, body)
    assert result == {
        "success": True,
        "transaction": block.hash.hex().upper(),
        "network": "nano:devnet",
        "payer": payer.address,
        "amount": str(PRICE),
    }
    info = await nano_rpc.call("block_info", hash=result["transaction"])
    assert info["confirmed"] == "true"
    state = await nano_rpc.call("account_info", account=payer.address, include_confirmed="true")
    assert int(state["confirmed_balance"]) == XNO - PRICE
    receivable = await nano_rpc.call("receivable", account=pay_to.address, threshold="1")
    assert receivable["blocks"] == {result["transaction"]: str(PRICE)}
    # Replay: the stored answer, and the block was published once.
    again = await settle(gateway, body)
    assert again["errorReason"] == "duplicate_settlement" and again["transaction"] == result["transaction"]
    assert nano_devnet.devnet.process_requests[result["transaction"]] == 1
    # Verifying it again says what happened.
    again = await verify(gateway, body)
    assert again["isValid"] is False and again["invalidReason"] == "block_already_exists"


@pytest.mark.parametrize(("amount", "word"), [(PRICE - 1, "underpaid by 1"), (PRICE + 5, "overpaid by 5")])
async def test_amount_must_be_exact(gateway, nano_rpc, nano_devnet, nano_funded_account, amount, word):
    payer = await nano_funded_account(XNO)
    _, body = await payment(nano_rpc, nano_devnet, payer, NanoAccount.generate(), amount=amount)
    for answer in (await verify(gateway, body), await settle(gateway, body)):
        reason = answer.get("invalidReason") or answer.get("errorReason")
        message = answer.get("invalidMessage") or answer.get("errorMessage")
        assert reason == "amount_mismatch"
        assert word in message
    assert (await nano_rpc.call("account_info", account=payer.address))["balance"] == str(XNO)


async def test_zero_price_is_refused(gateway, nano_rpc, nano_devnet, nano_funded_account):
    """A block that sends nothing against a price of 0 would be "exact": the minimum refuses it."""
    payer = await nano_funded_account(XNO)
    _, body = await payment(nano_rpc, nano_devnet, payer, NanoAccount.generate(), amount=0, price=0)
    for answer in (await verify(gateway, body), await settle(gateway, body)):
        assert (answer.get("invalidReason") or answer.get("errorReason")) == "amount_below_minimum"
    assert (await nano_rpc.call("account_info", account=payer.address))["balance"] == str(XNO)


async def test_link_differs_while_link_as_account_claims_pay_to(
    gateway, nano_rpc, nano_devnet, nano_funded_account
):
    payer = await nano_funded_account(XNO)
    pay_to, thief = NanoAccount.generate(), NanoAccount.generate()
    block = await nano_send_block(nano_rpc, nano_devnet, payer, thief.public_key, PRICE)
    forged = {**block.to_json(), "link_as_account": pay_to.address}
    body = nano_payment_body(nano_requirements(nano_devnet, pay_to.address, PRICE), forged)
    answer = await verify(gateway, body)
    assert answer["invalidReason"] == "recipient_mismatch"
    assert thief.address in answer["invalidMessage"]
    settled = await settle(gateway, body)
    assert settled["success"] is False and settled["errorReason"] == "recipient_mismatch"
    assert settled["transaction"] == ""
    assert nano_devnet.devnet.process_requests[block.hash.hex().upper()] == 0


async def test_field_tampered_after_signing(gateway, nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(XNO)
    pay_to = NanoAccount.generate()
    block, _ = await payment(nano_rpc, nano_devnet, payer, pay_to)
    tampered = {**block.to_json(), "balance": str(block.balance + 1)}  # would underpay by 1 raw
    body = nano_payment_body(nano_requirements(nano_devnet, pay_to.address, PRICE), tampered)
    assert (await verify(gateway, body))["invalidReason"] == "invalid_signature"
    assert (await settle(gateway, body))["errorReason"] == "invalid_signature"


async def test_non_canonical_signature(gateway, nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(XNO)
    pay_to = NanoAccount.generate()
    block, _ = await payment(nano_rpc, nano_devnet, payer, pay_to)
    order = 2**252 + 27742317777372353535851937790883648493
    s = int.from_bytes(block.signature[32:], "little") + order
    malleated = {
        **block.to_json(),
        "signature": (block.signature[:32] + s.to_bytes(32, "little")).hex().upper(),
    }
    body = nano_payment_body(nano_requirements(nano_devnet, pay_to.address, PRICE), malleated)
    assert (await verify(gateway, body))["invalidReason"] == "invalid_signature"


async def test_low_work(gateway, nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(XNO)
    pay_to = NanoAccount.generate()
    block, _ = await payment(nano_rpc, nano_devnet, payer, pay_to)
    weak = block.with_work(0)
    while weak.work_valid(nano_worker_threshold(nano_devnet)):
        weak = weak.with_work(weak.work + 1)
    body = nano_payment_body(nano_requirements(nano_devnet, pay_to.address, PRICE), weak.to_json())
    answer = await verify(gateway, body)
    assert answer["invalidReason"] == "invalid_work"
    assert nano_devnet.info["workThresholds"]["send"] in answer["invalidMessage"]


def nano_worker_threshold(nano_devnet) -> int:
    return int(nano_devnet.info["workThresholds"]["send"], 16)


async def test_malformed_hex(gateway, nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(XNO)
    pay_to = NanoAccount.generate()
    block, _ = await payment(nano_rpc, nano_devnet, payer, pay_to)
    for field, value in (("previous", "XYZ"), ("signature", "00"), ("link", "12" * 31), ("work", "nothex")):
        body = nano_payment_body(
            nano_requirements(nano_devnet, pay_to.address, PRICE), {**block.to_json(), field: value}
        )
        answer = await verify(gateway, body)
        assert answer["invalidReason"] == "invalid_block", field
        assert field in answer["invalidMessage"]


async def test_accepted_must_match_requirements(gateway, nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(XNO)
    pay_to = NanoAccount.generate()
    block, _ = await payment(nano_rpc, nano_devnet, payer, pay_to)
    requirements = nano_requirements(nano_devnet, pay_to.address, PRICE)
    accepted = {**requirements, "amount": str(PRICE - 1)}
    body = nano_payment_body(requirements, block.to_json(), accepted=accepted)
    assert (await verify(gateway, body))["invalidReason"] == "requirements_mismatch"
    assert (await settle(gateway, body))["errorReason"] == "requirements_mismatch"


async def test_stale_previous(gateway, nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(XNO)
    pay_to = NanoAccount.generate()
    block, body = await payment(nano_rpc, nano_devnet, payer, pay_to)
    # The payer spends elsewhere first: the payment's previous is no longer the frontier.
    other = await nano_send_block(nano_rpc, nano_devnet, payer, NanoAccount.generate().public_key, 1)
    await nano_rpc.process(other, "send")
    answer = await verify(gateway, body)
    assert answer["invalidReason"] == "frontier_moved"
    assert block.previous.hex().upper() in answer["invalidMessage"]
    settled = await settle(gateway, body)
    assert settled["errorReason"] == "frontier_moved" and settled["transaction"] == ""
    assert nano_devnet.devnet.process_requests[block.hash.hex().upper()] == 0


async def test_unconfirmed_frontier(gateway, nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(XNO)
    pay_to = NanoAccount.generate()
    await nano_rpc.call("devnet_hold_confirmations", account=payer.address)
    try:
        first = await nano_send_block(nano_rpc, nano_devnet, payer, NanoAccount.generate().public_key, 1)
        await nano_rpc.process(first, "send")
        _, body = await payment(nano_rpc, nano_devnet, payer, pay_to)  # built on the unconfirmed block
        answer = await verify(gateway, body)
        assert answer["invalidReason"] == "frontier_unconfirmed"
        assert (await settle(gateway, body))["errorReason"] == "frontier_unconfirmed"
    finally:
        await nano_rpc.call("devnet_release_confirmations", account=payer.address)
    await nano_rpc.wait_confirmed(first.hash.hex())
    # Once the frontier is confirmed the same payment is good (its claim was released).
    assert (await settle(gateway, body))["success"] is True


async def test_unopened_account(gateway, nano_devnet):
    from x402fac.nano import StateBlock, generate_work

    stranger = NanoAccount.generate()
    pay_to = NanoAccount.generate()
    previous = b"\x42" * 32
    block = StateBlock(stranger.public_key, previous, stranger.public_key, 0, pay_to.public_key)
    block = block.signed(stranger.secret_key).with_work(
        generate_work(previous, nano_worker_threshold(nano_devnet))
    )
    body = nano_payment_body(nano_requirements(nano_devnet, pay_to.address, PRICE), block.to_json())
    answer = await verify(gateway, body)
    assert answer["invalidReason"] == "account_not_found"
    assert answer["payer"] == stranger.address


async def test_concurrent_settles_publish_once(gateway, nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(XNO)
    pay_to = NanoAccount.generate()
    block, body = await payment(nano_rpc, nano_devnet, payer, pay_to)
    answers = await asyncio.gather(*(settle(gateway, body) for _ in range(20)))
    block_hash = block.hash.hex().upper()
    assert nano_devnet.devnet.process_requests[block_hash] == 1
    successes = [a for a in answers if a["success"]]
    assert len(successes) == 1, answers
    assert all(a["success"] or a["errorReason"] == "duplicate_settlement" for a in answers)
    assert all(a["transaction"] in (block_hash, "") for a in answers)
    final = await settle(gateway, body)
    assert final["errorReason"] == "duplicate_settlement"
    assert final["transaction"] == block_hash
    state = await nano_rpc.call("account_info", account=payer.address, include_confirmed="true")
    assert int(state["confirmed_balance"]) == XNO - PRICE


async def test_fork_between_verify_and_settle(gateway, nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(XNO)
    pay_to = NanoAccount.generate()
    block, body = await payment(nano_rpc, nano_devnet, payer, pay_to)
    assert (await verify(gateway, body))["isValid"] is True
    await publish_rival(nano_rpc, nano_devnet, payer, block, 7, balance=XNO)
    settled = await settle(gateway, body)
    assert settled["success"] is False
    assert settled["errorReason"] == "frontier_moved"
    assert settled["transaction"] == ""
    assert nano_devnet.devnet.process_requests[block.hash.hex().upper()] == 0
    receivable = await nano_rpc.call("receivable", account=pay_to.address, include_only_confirmed="false")
    assert receivable == {"blocks": ""}


async def test_late_confirmation_pending_then_final(gateway, nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(XNO)
    pay_to = NanoAccount.generate()
    block, body = await payment(nano_rpc, nano_devnet, payer, pay_to, max_timeout=1)
    block_hash = block.hash.hex().upper()
    await nano_rpc.call("devnet_hold_confirmations", account=payer.address)
    try:
        first = await settle(gateway, body)
        assert first["success"] is False
        assert first["errorReason"] == "settlement_pending"
        assert first["transaction"] == block_hash
        assert first["network"] == "nano:devnet"
    finally:
        await nano_rpc.call("devnet_release_confirmations", account=payer.address)
    await nano_rpc.wait_confirmed(block_hash)
    final = await settle(gateway, body)
    assert final["success"] is True and final["transaction"] == block_hash
    assert nano_devnet.devnet.process_requests[block_hash] == 1
