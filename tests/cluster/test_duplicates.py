"""1,000 settle requests for one payment, each body formatted differently, spread over both gateways
-> one transfer, one success:true; every other answer is duplicate_settlement (per family, and for an
EVM payment by Permit2, by `upto` (charged exactly what the settle asked, below the maximum) and from an
ERC-6492 counterfactual wallet (deployed once))."""

import asyncio
import json
import random

import pytest

from tests.fixtures.evm_wallets import deployments_of

from .checks import check_chain_and_ledger, outcomes

COPIES = 1_000
CONCURRENCY = 40
UPTO_MAXIMUM = 5_000
UPTO_CHARGED = 1_234


def _escape(text: str, rng: random.Random) -> str:
    """A JSON string literal, some characters written as \\uXXXX escapes (the same string decoded)."""
    return '"' + "".join(f"\\u{ord(c):04x}" if rng.random() < 0.15 else c for c in text) + '"'


def _write(value, rng: random.Random, indent: str, depth: int = 0) -> str:
    pad = "\n" + indent * (depth + 1) if indent else ""
    end = "\n" + indent * depth if indent else ""
    colon = rng.choice([":", ": ", " : "])
    comma = rng.choice([",", ", "]) if not indent else ","
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        inner = comma.join(
            f"{pad}{_escape(k, rng)}{colon}{_write(v, rng, indent, depth + 1)}" for k, v in items
        )
        return "{" + inner + end + "}"
    if isinstance(value, list):
        return "[" + comma.join(f"{pad}{_write(v, rng, indent, depth + 1)}" for v in value) + end + "]"
    if isinstance(value, str):
        return _escape(value, rng)
    return json.dumps(value)


def variants(body: dict, count: int, seed: int = 12) -> list[bytes]:
    """`count` distinct encodings of one JSON document: key order, spacing, indentation, escapes."""
    rng = random.Random(seed)
    found: dict[bytes, None] = {}
    while len(found) < count:
        indent = rng.choice(["", "", " ", "  ", "\t"])
        found[(rng.choice(["", " ", "\n"]) + _write(body, rng, indent)).encode()] = None
    return list(found)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("family", ["evm", "evm-permit2", "evm-upto", "evm-erc6492", "nano", "solana"])
async def test_one_payment_many_formats_one_success(family, cluster, payments, client, ledger, results):
    if family == "solana":
        await payments.solana.setup(sellers=1)
    special = {
        "evm-permit2": payments.evm.make_permit2,
        "evm-upto": lambda: payments.evm.make_upto(UPTO_MAXIMUM, UPTO_CHARGED),
        "evm-erc6492": payments.evm.make_erc6492,
    }
    pay = await (special[family]() if family in special else payments.by_family[family].make())
    label, family = family, pay.family
    bodies = variants(pay.as_dict(), COPIES)
    assert all(json.loads(b) == pay.as_dict() for b in bodies[:50])
    gate = asyncio.Semaphore(CONCURRENCY)

    async def send(index: int, body: bytes):
        async with gate:
            return await client.settle(pay, index % 2, body=body)

    attempts = await asyncio.gather(*(send(i, b) for i, b in enumerate(bodies)))
    counted = outcomes(attempts)
    results.setdefault("duplicates", {})[label] = counted
    print(f"\n{label}: {counted}")
    successes = [a for a in attempts if a.outcome == "success"]
    assert len(successes) == 1, counted
    assert counted == {"success": 1, "duplicate_settlement": COPIES - 1}
    paying = successes[0].transaction
    assert all(a.transaction in ("", paying) for a in attempts)
    await check_chain_and_ledger(list(attempts), payments, ledger)
    if family != "solana":
        transfers = await payments.by_family[family].transfers([pay])
        assert [t.lower() for t in transfers[pay.payment_id]] == [paying.lower()]
    else:
        assert await payments.solana.balances({pay.pay_to}) == {pay.pay_to: pay.amount}
    if family == "evm":
        # The payee holds exactly what the settle asked (for upto: the charge, not the maximum).
        token = pay.as_dict()["paymentRequirements"]["asset"]
        assert await payments.evm.chain.balance_of(pay.pay_to, token) == pay.amount
    if label == "evm-upto":
        assert pay.amount == UPTO_CHARGED < pay.extra["maximum"]
    if label == "evm-erc6492":
        assert await deployments_of(payments.evm.info, pay.extra["wallet"].address) == 1
