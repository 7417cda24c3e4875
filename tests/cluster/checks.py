"""What every cluster test asserts afterwards: the chain and the ledger agree with the answers."""

from __future__ import annotations

from collections import Counter
from typing import Any

from x402fac.protocol.ledger import RecordState

from .load import Attempt, LedgerReader
from .payments import Pay


async def check_chain_and_ledger(attempts: list[Attempt], payments: Any, ledger: LedgerReader) -> dict:
    """Every success:true has its transfer on chain and a settled record naming that transaction; no
    payment has two successes or two transfers; each seller holds exactly what settled for it."""
    by_payment: dict[str, list[Attempt]] = {}
    for attempt in attempts:
        by_payment.setdefault(attempt.pay.payment_id, []).append(attempt)
    pays: dict[str, Pay] = {a.pay.payment_id: a.pay for a in attempts}
    records = await ledger.records(list(pays))
    problems: list[str] = []
    for payment_id, tries in by_payment.items():
        successes = [a for a in tries if a.outcome == "success"]
        if len(successes) > 1:
            problems.append(f"{payment_id}: {len(successes)} successes")
        record = records[payment_id]
        for success in successes:
            if record is None or record.state is not RecordState.SETTLED:
                problems.append(f"{payment_id}: success:true but the record is {record}")
            elif record.transaction != success.transaction:
                problems.append(
                    f"{payment_id}: answered {success.transaction}, recorded {record.transaction}"
                )
    settled = {p: r for p, r in records.items() if r is not None and r.state is RecordState.SETTLED}
    for family in ("evm", "nano"):
        family_pays = [p for p in pays.values() if p.family == family]
        if not family_pays:
            continue
        transfers = await payments.by_family[family].transfers(family_pays)
        for pay in family_pays:
            on_chain = transfers[pay.payment_id]
            record = settled.get(pay.payment_id)
            if len(on_chain) > 1:
                problems.append(f"{pay.payment_id}: {len(on_chain)} transfers {on_chain}")
            if record is not None and [t.lower() for t in on_chain] != [record.transaction.lower()]:
                problems.append(f"{pay.payment_id}: settled as {record.transaction}, on chain {on_chain}")
            if record is None and on_chain:
                problems.append(f"{pay.payment_id}: on chain {on_chain} without a settled record")
    solana_pays = [p for p in pays.values() if p.family == "solana"]
    if solana_pays:
        solana = payments.solana
        expected: Counter[str] = Counter()
        for pay in solana_pays:
            if pay.payment_id in settled:
                expected[pay.pay_to] += pay.amount
        balances = await solana.balances({p.pay_to for p in solana_pays})
        if balances != {seller: expected.get(seller, 0) for seller in balances}:
            problems.append(f"solana sellers hold {balances}, settled records say {dict(expected)}")
        signatures = [settled[p.payment_id].transaction for p in solana_pays if p.payment_id in settled]
        statuses = await solana.statuses(signatures)
        missing = [s for s, status in statuses.items() if not status or status.get("err")]
        if missing:
            problems.append(f"solana: settled records without a landed transaction: {missing[:5]}")
    assert not problems, "\n".join(problems[:30])
    return {"payments": len(pays), "settled": len(settled)}


def outcomes(attempts: list[Attempt]) -> dict[str, int]:
    return dict(Counter(a.outcome for a in attempts))
