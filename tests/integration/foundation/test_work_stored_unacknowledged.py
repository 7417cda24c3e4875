"""A settle whose work the stream stored but whose acknowledgement never reached the gateway (a NATS
node going away between the two) is still answered with its one success.

Before, the gateway answered 503 worker_timeout at once while a worker settled the stored request;
the caller's retry, seconds later and before that request's deadline, found the payment delivered to
a request nobody waited for and got duplicate_settlement: the payment's success was lost.
"""

import asyncio
import uuid

import httpx
import nats.errors
import pytest

from tests.fixtures.stack import Stack

from .conftest import LedgerBookScheme, payment


class AcknowledgementLost:
    """The gateway's JetStream context whose first `lost` publishes are stored (once, by their id) but
    reported as timed out."""

    def __init__(self, js, lost: int) -> None:
        self.js = js
        self.lost = lost
        self.publishes = 0

    async def publish(self, *args, **kwargs):
        ack = await self.js.publish(*args, **kwargs)
        self.publishes += 1
        if self.publishes <= self.lost:
            raise nats.errors.TimeoutError
        return ack

    def __getattr__(self, name: str):
        return getattr(self.js, name)


# 1: the publish made again is acknowledged; 10**6: no acknowledgement ever comes, but the worker's
# answer does (the request was stored), and the caller takes it instead of waiting for its deadline.
@pytest.mark.parametrize("lost", [1, 10**6])
async def test_stored_work_whose_acknowledgement_was_lost_is_answered_with_its_success(lost):
    stack = await Stack.start()
    try:
        scheme = LedgerBookScheme()
        await stack.start_worker("evm", [scheme], reconcile_interval=3600)
        gateway = await stack.add_gateway(settle_timeout=20)
        replies = gateway.app.state.facilitator.replies
        lossy = AcknowledgementLost(replies._js, lost)
        replies._js = lossy
        body = payment(uuid.uuid4().hex)
        payment_id = f"test/{body['paymentPayload']['payload']['id']}"
        async with httpx.AsyncClient(timeout=60) as http:
            for _ in range(50):  # until the gateway sees the evm family live
                first = await http.post(gateway.url + "/settle", json=body)
                if first.status_code != 503 or first.json()["error"] != "worker_unavailable":
                    break
                await asyncio.sleep(0.2)
            again = await http.post(gateway.url + "/settle", json=body)
        assert first.status_code == 200, first.text
        assert first.json()["success"] is True, first.text
        assert lossy.publishes >= 2  # published again under the same id
        assert scheme.broadcasts == {f"tx-{payment_id}": 1}  # and stored once
        assert again.json()["success"] is False and again.json()["errorReason"] == "duplicate_settlement"
    finally:
        await stack.close()
