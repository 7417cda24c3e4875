"""Every store the product surface adds is bounded in age and size like the settlement stores."""

from x402fac.bus import subjects

STORES = [
    f"KV_{subjects.KEYS_BUCKET}",
    f"KV_{subjects.WHITELIST_BUCKET}",
    subjects.USAGE_STREAM,
    subjects.RECENT_STREAM,
    subjects.QUOTA_STREAM,
]


async def test_product_stores_are_bounded(product_stack):
    stack, _ = product_stack
    js = stack.nc.jetstream()
    for stream in STORES:
        config = (await js.stream_info(stream)).config
        assert config.max_age and config.max_age > 0, stream
        assert config.max_bytes and config.max_bytes > 0, stream
    recent = (await js.stream_info(subjects.RECENT_STREAM)).config
    assert recent.max_msgs_per_subject == 50  # the latest settle outcomes per key, no more
