"""A worker replica that can settle nothing now (its signer lease lapsed after it took the item)
hands the settle off before identifying or claiming anything."""

import time

import msgspec
import pytest

from x402fac.bus import HandOff, subjects
from x402fac.worker import HandOff as WorkerHandOff
from x402fac.worker import WorkerService

from .test_settle_states import Chain, Journal, _request


class Unreachable:
    """A connection nothing may be sent on."""

    async def publish(self, *args, **kwargs) -> None:
        raise AssertionError("nothing is published by a replica handing off")

    async def request(self, *args, **kwargs) -> None:
        raise AssertionError("nothing is asked (no ledger claim) by a replica handing off")


def test_one_hand_off_exception_for_schemes_and_the_bus():
    assert WorkerHandOff is HandOff


async def test_a_replica_that_can_settle_nothing_hands_off_before_any_state():
    journal = Journal()
    chain = Chain(journal)
    chain.can_settle = lambda: False  # type: ignore[method-assign]
    service = WorkerService(Unreachable(), "evm", [chain], settle_ack_wait=1.0)  # type: ignore[arg-type]
    body = msgspec.json.encode(_request())
    headers = {subjects.REQUEST_ID_HEADER: "r1", subjects.DEADLINE_HEADER: f"{time.time() + 30:.3f}"}
    with pytest.raises(HandOff):
        await service._settle(body, headers)
    assert journal == []  # never identified, verified or prepared
    assert service._requesters == {}
