"""A transaction just sent is not asked about before two slots have passed (it lands in one, votes
on it land in the next); one recorded earlier (a
take-over, the reconciler) is asked about at once. Both wait no longer than their budget in total."""

import pytest

from x402fac.worker import Confirmation
from x402fac.worker_solana import confirm
from x402fac.worker_solana.chain import SLOT_SECONDS
from x402fac.worker_solana.confirm import FIRST_STATUS_SECONDS


class Watcher:
    def __init__(self, log: list) -> None:
        self.log = log

    async def wait(self, transaction: str, timeout: float):
        self.log.append(("status", transaction, timeout))
        return {"err": None, "confirmationStatus": "confirmed"}


class Runtime:
    def __init__(self, log: list) -> None:
        self.watcher = Watcher(log)


class Clock:
    """Stands in for `asyncio` in the confirm module only: notes each sleep instead of sleeping."""

    def __init__(self, log: list) -> None:
        self.log = log

    async def sleep(self, seconds: float) -> None:
        self.log.append(("sleep", seconds))


@pytest.fixture
def log(monkeypatch) -> list:
    steps: list = []
    monkeypatch.setattr(confirm, "asyncio", Clock(steps))
    return steps


async def test_a_transaction_just_sent_is_first_asked_about_two_slots_later(log):
    outcome = await confirm.settled(Runtime(log), "sig", 10.0, None, just_sent=True)
    assert outcome.status is Confirmation.CONFIRMED
    assert FIRST_STATUS_SECONDS == 2 * SLOT_SECONDS
    assert log == [("sleep", 2 * SLOT_SECONDS), ("status", "sig", pytest.approx(10.0 - 2 * SLOT_SECONDS))]


async def test_a_short_budget_is_not_overrun(log):
    await confirm.settled(Runtime(log), "sig", SLOT_SECONDS, None, just_sent=True)
    assert log == [("sleep", SLOT_SECONDS), ("status", "sig", 0.0)]


async def test_a_recorded_transaction_is_asked_about_at_once(log):
    outcome = await confirm.settled(Runtime(log), "sig", 5.0, None)
    assert outcome.status is Confirmation.CONFIRMED
    assert log == [("status", "sig", 5.0)]
