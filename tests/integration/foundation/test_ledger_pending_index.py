"""The pending index while a NATS node restarts: a final record whose index entry could not be
deleted (no stream leader for a moment) is still final for its caller, and the next pending listing
drops the entry (found by the cluster's rolling restart: finalize failed, the caller got
settlement_pending for a settled payment, and the entry stayed listed for good)."""

import time

from nats.js.errors import NoStreamResponseError

from tests.fixtures.polling import until
from x402fac.bus import EmbeddedNats, connect, encode_key, free_port
from x402fac.ledger.config import LedgerConfig
from x402fac.ledger.store import LedgerStore
from x402fac.protocol import SettleResponse
from x402fac.protocol.ledger import (
    ClaimRequest,
    ClaimStatus,
    DetachRequest,
    FinalizeRequest,
    PendingRequest,
    RecordState,
    SubmitRequest,
)


async def test_finalize_survives_a_failed_index_delete_and_listing_heals_it(tmp_path):
    server = EmbeddedNats(tmp_path, port=free_port())
    await server.start()
    nc = await connect(server.url, name="test-ledger-index", credentials=server.credentials("ledger"))
    try:
        store = LedgerStore(nc.jetstream(), LedgerConfig())
        await store.open()
        claim = await store.claim(
            ClaimRequest("pay-1", "evm", "eip155:1", "alice", "5", "req-1", time.time() + 30)
        )
        submitted = await store.submit(SubmitRequest("pay-1", claim.revision, "0xtx"))
        # Answered pending, the attempt lets go: listed; a retry takes the payment over.
        assert (await store.detach(DetachRequest("pay-1", "req-1"))).ok and submitted.ok
        await until(lambda: store.pending_index.holds(encode_key("pay-1")), what="the listing seen")
        retry = await store.claim(
            ClaimRequest("pay-1", "evm", "eip155:1", "alice", "5", "req-2", time.time() + 30)
        )
        assert retry.status is ClaimStatus.ATTACHED
        real_delete = store.pending.delete

        async def no_leader(*_args, **_kwargs):
            raise NoStreamResponseError

        store.pending.delete = no_leader
        success = SettleResponse(success=True, transaction="0xtx", network="eip155:1", payer="alice")
        reply = await store.finalize(FinalizeRequest("pay-1", retry.revision, success, "req-2"))
        assert reply.ok and reply.delivered and reply.record.state is RecordState.SETTLED
        assert encode_key("pay-1") in await store.pending.keys()

        store.pending.delete = real_delete
        listed = await store.list_pending(PendingRequest("evm"))
        assert listed.records == []
        remaining = []
        try:
            remaining = await store.pending.keys()
        except Exception:  # no keys left at all
            pass
        assert encode_key("pay-1") not in remaining
    finally:
        await nc.close()
        server.stop()
