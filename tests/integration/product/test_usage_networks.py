"""Per-key usage on every network: real Nano, EVM and Solana workers on their devnets, two gateways,
one API key. After a mix of verifies and settles (valid, invalid, a copy of a settled payment, and
anonymous requests that are not the key's), the key's counters hold exactly what was sent: requests,
verifies, settles, outcomes by network and reason, amounts per network and asset, by hour and by day.

The expected counts are built from the answers the gateways gave, one per request (the audit stream
keeps one settle entry per payment and outcome, and no (payment, outcome) pair repeats here)."""

import asyncio
from collections import Counter
from typing import Any

import httpx
import msgspec
import pytest
from eth_account import Account
from solders.keypair import Keypair

from tests.fixtures.evm import funded_payer, payment_request, serve_evm
from tests.fixtures.nano import XNO, NanoAccount, nano_payment_body, nano_requirements, nano_send_block
from tests.fixtures.solana import solana_payment_body, solana_requirements, usdc_payment
from x402fac.bus import request as ask
from x402fac.bus import subjects
from x402fac.devnet.solana import NETWORK as SOLANA_NETWORK
from x402fac.devnet.solana import USDC_MINT
from x402fac.protocol.ledger import KeyCreateReply, KeyCreateRequest

from .test_usage import _drained

NANO_PRICE = 10**27  # 0.001 XNO: amounts beyond 64 bits are summed exactly too
USDC_PRICE = 10_000  # 0.01 USDC


class Mix:
    """One network's payments: three valid, one invalid (its requirements ask one unit more than it
    pays); each valid one pays `price` of `asset`."""

    def __init__(self, network: str, asset: str, price: int, valid: list[dict], invalid: dict) -> None:
        self.network, self.asset, self.price = network, asset, price
        self.valid, self.invalid = valid, invalid


async def nano_mix(nano_rpc, nano_devnet, nano_funded_account) -> Mix:
    pay_to = NanoAccount.generate()
    payers = [await nano_funded_account(XNO) for _ in range(4)]  # one after another: genesis sends them
    bodies = []
    for i, payer in enumerate(payers):
        block = await nano_send_block(nano_rpc, nano_devnet, payer, pay_to.public_key, NANO_PRICE)
        asked = NANO_PRICE + (1 if i == 3 else 0)
        bodies.append(
            nano_payment_body(nano_requirements(nano_devnet, pay_to.address, asked), block.to_json())
        )
    return Mix("nano:devnet", "XNO", NANO_PRICE, bodies[:3], bodies[3])


async def evm_mix(info: dict) -> Mix:
    payer, pay_to = await funded_payer(info, 10 * USDC_PRICE), Account.create().address

    def body(**changes: Any) -> dict:
        return msgspec.to_builtins(payment_request(info, payer, pay_to, USDC_PRICE, **changes))

    invalid = body(requirements={"amount": str(USDC_PRICE + 1)})
    return Mix(info["network"], info["usdc"]["address"], USDC_PRICE, [body() for _ in range(3)], invalid)


def solana_mix(solana_devnet) -> Mix:
    payer, fee_payer = solana_devnet.new_payer(10 * USDC_PRICE), solana_devnet.fee_payers[0].pubkey()
    pay_to = Keypair().pubkey()
    solana_devnet.fund(pay_to)  # the receiver's USDC account exists, as x402 requires

    def body(asked: int) -> dict:
        tx = usdc_payment(payer, pay_to, USDC_PRICE, fee_payer, solana_devnet.chain.latest_blockhash)
        return solana_payment_body(solana_requirements(pay_to, asked, fee_payer), tx)

    valid = [body(USDC_PRICE) for _ in range(3)]
    return Mix(SOLANA_NETWORK, str(USDC_MINT), USDC_PRICE, valid, body(USDC_PRICE + 1))


def outcome(kind: str, answer: httpx.Response) -> str:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    if kind == "verify":
        return "valid" if body["isValid"] else body["invalidReason"]
    return "settled" if body["success"] else body["errorReason"]


@pytest.mark.timeout(300)
async def test_usage_is_exact_on_every_network_through_two_gateways(
    stack, nano_worker, solana_worker, evm_devnet, nano_rpc, nano_devnet, nano_funded_account, solana_devnet
):
    created = await ask(
        stack.nc,
        subjects.LEDGER_KEY_ISSUE,
        KeyCreateRequest(name="every network", origin="cli"),
        KeyCreateReply,
        10.0,
    )
    assert created.ok and created.key is not None
    key = {"x-api-key": created.secret}
    second = await stack.add_gateway()
    async with (
        serve_evm(stack, evm_devnet),
        httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as one,
        httpx.AsyncClient(base_url=second.url, timeout=60) as two,
    ):
        mixes = [
            await nano_mix(nano_rpc, nano_devnet, nano_funded_account),
            await evm_mix(evm_devnet),
            solana_mix(solana_devnet),
        ]
        expected: dict[str, Counter[str]] = {mix.network: Counter() for mix in mixes}

        async def send(
            mix: Mix, kind: str, body: dict, gateway: httpx.AsyncClient, keyed: bool = True
        ) -> str:
            found = outcome(kind, await gateway.post(f"/{kind}", json=body, headers=key if keyed else {}))
            if keyed:
                expected[mix.network][f"{kind}:{found}"] += 1
            return found

        # Every payment verified (alternating gateways), then two valid ones and the invalid one
        # settled, then a copy of a settled payment; anonymous verifies are not the key's.
        verified = await asyncio.gather(
            *(
                send(mix, "verify", body, (one, two)[i % 2])
                for mix in mixes
                for i, body in enumerate([*mix.valid, mix.invalid])
            ),
            *(send(mix, "verify", mix.valid[2], one, keyed=False) for mix in mixes),
        )
        settled = await asyncio.gather(
            *(
                send(mix, "settle", body, (two, one)[i % 2])
                for mix in mixes
                for i, body in enumerate([*mix.valid[:2], mix.invalid])
            )
        )
        copies = await asyncio.gather(*(send(mix, "settle", mix.valid[0], one) for mix in mixes))
        await _drained(stack)
        hourly = (await two.get("/dashboard/api/usage", headers=key)).json()
        daily = (await one.get("/dashboard/api/usage?granularity=d&periods=2", headers=key)).json()
        recent = (await two.get("/dashboard/api/settlements", headers=key)).json()["settlements"]

    # The mix is what it says: per network 3 valid verifies and one refused, 2 settled and 2 not.
    assert [v for v in verified if v == "valid"] == ["valid"] * 12, verified
    assert settled.count("settled") == 6 and copies == ["duplicate_settlement"] * 3, (settled, copies)
    for mix in mixes:
        counts = expected[mix.network]
        assert counts["verify:valid"] == 3 and counts["settle:settled"] == 2, (mix.network, counts)
        assert sum(counts.values()) == 8

    for usage in (hourly, daily):
        assert usage["networks"] == {network: dict(counts) for network, counts in expected.items()}
        assert usage["totals"] == {"verify": 12, "settle": 12, "settled": 6, "failed": 6}
        errors: Counter[str] = Counter()
        for counts in expected.values():
            for kind_reason, n in counts.items():
                errors[kind_reason.split(":", 1)[1]] += n
        del errors["valid"], errors["settled"]
        assert usage["errors"] == dict(errors)
        assert usage["amounts"] == {mix.network: {mix.asset: str(2 * mix.price)} for mix in mixes}
        assert usage["keys"] == {created.key.id: {"verify": 12, "settle": 12}}  # 24 requests, this key's
    settle_outcomes = {
        (network, kind_reason.removeprefix("settle:")): n
        for network, counts in expected.items()
        for kind_reason, n in counts.items()
        if kind_reason.startswith("settle:")
    }
    assert Counter((s["network"], s["outcome"]) for s in recent) == settle_outcomes
