"""The settle gate: a replica whose schemes can always settle stops checking once its settle work is
open (no wake-up a second at idle); one whose readiness follows a signer lease keeps checking."""

import asyncio

from x402fac.worker import WorkerService
from x402fac.worker import service as service_module

from .test_settle_states import Chain, Journal


class Leased(Chain):
    settle_readiness_varies = True

    def __init__(self, journal: Journal) -> None:
        super().__init__(journal)
        self.ready = True

    def can_settle(self) -> bool:
        return self.ready


class Work:
    """The settle work consumer: counts opens and closes; the first open may fail (JetStream slow)."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.opened = 0
        self.closed = 0

    async def start(self) -> None:
        if self.failures:
            self.failures -= 1
            raise TimeoutError("JetStream did not answer")
        self.opened += 1

    async def stop(self, grace: float = 10.0) -> None:
        self.closed += 1


def service_of(scheme: Chain, work: Work) -> WorkerService:
    service = WorkerService(object(), "evm", [scheme], settle_ack_wait=1.0)  # type: ignore[arg-type]
    service.settle_work = work  # type: ignore[assignment]
    return service


async def test_a_replica_that_can_always_settle_stops_checking_once_open(monkeypatch):
    monkeypatch.setattr(service_module, "GATE_INTERVAL_SECONDS", 0.0)
    work = Work(failures=2)
    service = service_of(Chain(Journal()), work)
    await asyncio.wait_for(service._gate_forever(), 10)  # it ends; a guard against a hang
    assert service.settling and work.opened == 1 and work.closed == 0


async def test_a_replica_whose_readiness_follows_a_lease_keeps_checking(monkeypatch):
    monkeypatch.setattr(service_module, "GATE_INTERVAL_SECONDS", 0.0)
    scheme = Leased(Journal())
    work = Work()
    service = service_of(scheme, work)
    await service._open_or_close_settles()
    gate = asyncio.create_task(service._gate_forever())
    scheme.ready = False  # the lease lapsed
    for _ in range(100):  # turns of the loop, a bound: the gate closes the work in the first few
        await asyncio.sleep(0)
        if work.closed:
            break
    assert work.closed == 1 and not service.settling
    scheme.ready = True
    for _ in range(100):
        await asyncio.sleep(0)
        if work.opened == 2:
            break
    assert work.opened == 2 and service.settling and not gate.done()
    gate.cancel()
