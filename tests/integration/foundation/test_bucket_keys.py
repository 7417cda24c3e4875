"""Listing a bucket's keys from its stream's subject index: every key written is listed at once (the
watch-based listing could end before its first entry on a busy connection and list nothing), a deleted
key is listed but reads as gone, and an empty bucket lists nothing without an error."""

import pytest
from nats.js.errors import NotFoundError

from x402fac.bus import EmbeddedNats, bucket_keys, connect, encode_key, ensure_bucket, free_port


async def test_bucket_keys_lists_what_was_written_and_marks_nothing_missing(tmp_path):
    server = EmbeddedNats(tmp_path, port=free_port())
    await server.start()
    nc = await connect(server.url, name="test-bucket-keys", credentials=server.credentials("ledger"))
    try:
        kv = await ensure_bucket(nc.jetstream(), "x402fac_test_listing")
        assert await bucket_keys(kv) == []
        names = [encode_key(f"key {i}.x") for i in range(30)]
        for name in names:
            await kv.put(name, b"v")
            assert name in await bucket_keys(kv)  # listed as soon as the write is acknowledged
        await kv.delete(names[0])
        listed = await bucket_keys(kv)
        assert listed == sorted(names)
        with pytest.raises(NotFoundError):
            await kv.get(names[0])
    finally:
        await nc.close()
        server.stop()
