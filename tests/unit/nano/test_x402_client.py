"""The Nano client scheme for the official x402 SDK, against the in-process devnet."""

import pytest
from x402 import x402Client, x402ClientSync
from x402.schemas import PaymentRequired, PaymentRequirements, ResourceInfo

from tests.fixtures.nano import XNO, NanoAccount
from x402fac.nano import decode_address, parse_block, parse_threshold
from x402fac.nano.x402_client import (
    ExactNanoClientScheme,
    ExactNanoClientSchemeSync,
    NanoPaymentError,
    nano_spend_control,
)


def requirements(nano_devnet, pay_to: str, amount: int, **changes) -> PaymentRequirements:
    fields = {
        "scheme": "exact",
        "network": "nano:devnet",
        "asset": "XNO",
        "amount": str(amount),
        "pay_to": pay_to,
        "max_timeout_seconds": 60,
        "extra": {"work": "required", "workThreshold": nano_devnet.info["workThresholds"]["send"]},
    }
    return PaymentRequirements(**{**fields, **changes})


async def assert_pays(
    nano_rpc, nano_devnet, payer: NanoAccount, payload: dict, pay_to: NanoAccount, amount: int
):
    assert set(payload) == {"block"}
    assert payload["block"]["link_as_account"] == pay_to.address
    block = parse_block(payload["block"])
    state = await nano_rpc.call("account_info", account=payer.address, include_confirmed="true")
    assert block.account == payer.public_key
    assert block.previous.hex().upper() == state["confirmed_frontier"]
    assert int(state["confirmed_balance"]) - block.balance == amount
    assert block.link == pay_to.public_key
    assert block.signature_valid()
    assert block.work_valid(parse_threshold(nano_devnet.info["workThresholds"]["send"]))
    answer = await nano_rpc.call("process", json_block="true", subtype="send", block=payload["block"])
    assert answer["hash"] == block.hash.hex().upper()
    await nano_rpc.wait_confirmed(answer["hash"])


async def test_build_payload_pays_exactly(nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(3 * XNO)
    pay_to = NanoAccount.generate()
    scheme = ExactNanoClientScheme(payer.secret_key.hex(), nano_devnet.rpc_url)
    assert scheme.address == payer.address
    payload = scheme.build_payload(requirements(nano_devnet, pay_to.address, 12345))
    await assert_pays(nano_rpc, nano_devnet, payer, payload, pay_to, 12345)
    # The next payment spends from the new confirmed frontier.
    second = scheme.build_payload(requirements(nano_devnet, pay_to.address, 5))
    await assert_pays(nano_rpc, nano_devnet, payer, second, pay_to, 5)


async def test_async_sdk_client_prepares_in_hook(nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(XNO)
    pay_to = NanoAccount.generate()
    scheme = ExactNanoClientScheme(payer.secret_key, nano_devnet.rpc_url)
    client = x402Client().register("nano:devnet", scheme)
    client.set_spend_controls({"allowed_assets": [nano_spend_control(XNO)]})
    required = PaymentRequired(
        accepts=[requirements(nano_devnet, pay_to.address, 777)], resource=ResourceInfo(url="http://x/r")
    )
    payment = await client.create_payment_payload(required)
    assert payment.x402_version == 2
    assert payment.accepted.pay_to == pay_to.address
    assert scheme._prepared == {}  # the hook's prepared payload was used
    await assert_pays(nano_rpc, nano_devnet, payer, payment.payload, pay_to, 777)


async def test_sync_sdk_client(nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(XNO)
    pay_to = NanoAccount.generate()
    client = x402ClientSync().register(
        "nano:devnet", ExactNanoClientSchemeSync(payer.secret_key, nano_devnet.rpc_url)
    )
    client.set_spend_controls({"allowed_assets": [nano_spend_control()]})
    required = PaymentRequired(accepts=[requirements(nano_devnet, pay_to.address, 9)])
    payment = client.create_payment_payload(required)
    await assert_pays(nano_rpc, nano_devnet, payer, payment.payload, pay_to, 9)


async def test_hard_threshold_asks_the_node_for_work(nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(XNO)
    pay_to = NanoAccount.generate()
    scheme = ExactNanoClientScheme(payer.secret_key, nano_devnet.rpc_url, local_work_limit=0)
    payload = scheme.build_payload(requirements(nano_devnet, pay_to.address, 1))
    await assert_pays(nano_rpc, nano_devnet, payer, payload, pay_to, 1)


async def test_refusals(nano_rpc, nano_devnet, nano_funded_account):
    payer = await nano_funded_account(100)
    pay_to = NanoAccount.generate().address
    scheme = ExactNanoClientScheme(payer.secret_key, nano_devnet.rpc_url, confirmation_wait=0.2)
    with pytest.raises(NanoPaymentError, match="below the price"):
        scheme.build_payload(requirements(nano_devnet, pay_to, 101))
    with pytest.raises(NanoPaymentError, match="asset"):
        scheme.build_payload(requirements(nano_devnet, pay_to, 1, asset="USDC"))
    with pytest.raises(NanoPaymentError, match="Account not found"):
        ExactNanoClientScheme(NanoAccount.generate().secret_key, nano_devnet.rpc_url).build_payload(
            requirements(nano_devnet, pay_to, 1)
        )
    with pytest.raises(NanoPaymentError, match="unreachable"):
        ExactNanoClientScheme(payer.secret_key, "http://127.0.0.1:9", rpc_timeout=2).build_payload(
            requirements(nano_devnet, pay_to, 1)
        )
    # While the payer's latest block is unconfirmed the scheme waits, then gives up.
    await nano_rpc.call("devnet_hold_confirmations", account=payer.address)
    try:
        pending = scheme.build_payload(requirements(nano_devnet, pay_to, 10))
        await nano_rpc.call("process", json_block="true", block=pending["block"])
        with pytest.raises(NanoPaymentError, match="unconfirmed"):
            scheme.build_payload(requirements(nano_devnet, pay_to, 10))
    finally:
        await nano_rpc.call("devnet_release_confirmations", account=payer.address)
    assert decode_address(pending["block"]["link_as_account"]) == decode_address(pay_to)


async def test_spend_cap_is_enforced(nano_devnet, nano_funded_account):
    from x402.schemas.errors import NoMatchingRequirementsError

    payer = await nano_funded_account(XNO)
    pay_to = NanoAccount.generate()
    client = x402Client().register(
        "nano:devnet", ExactNanoClientScheme(payer.secret_key, nano_devnet.rpc_url)
    )
    required = PaymentRequired(accepts=[requirements(nano_devnet, pay_to.address, 1000)])
    # Without an opt-in the SDK refuses XNO (not a USD-pegged default asset).
    with pytest.raises(NoMatchingRequirementsError):
        await client.create_payment_payload(required)
    client.set_spend_controls({"allowed_assets": [nano_spend_control(999)]})
    with pytest.raises(NoMatchingRequirementsError):
        await client.create_payment_payload(required)
    scheme = ExactNanoClientScheme(payer.secret_key, nano_devnet.rpc_url)

    class Context:
        max_amount_per_payment = "999"

    with pytest.raises(NanoPaymentError, match="spend cap"):
        scheme.create_payment_payload(requirements(nano_devnet, pay_to.address, 1000), Context())
