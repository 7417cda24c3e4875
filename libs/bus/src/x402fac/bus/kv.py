"""JetStream key-value helpers. Keys must match ^[-/_=.a-zA-Z0-9]+$, so others are escaped as =XX."""

import re
from dataclasses import replace

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

_UNSAFE = re.compile(r"[^-/_a-zA-Z0-9]")
# The escape of every ASCII character outside the set: an ASCII key (payment ids, addresses) is escaped
# by one str.translate, at a third of the regular expression's cost (several keys per settle).
_ASCII_ESCAPES = {code: f"={code:02X}" for code in range(128) if _UNSAFE.match(chr(code))}


def encode_key(raw: str) -> str:
    """Reversible escape of anything outside [-/_a-zA-Z0-9] (dots too: they split subject tokens)."""
    if not raw:
        raise ValueError("empty key")
    if raw.isascii():
        return raw.translate(_ASCII_ESCAPES)
    return _UNSAFE.sub(lambda m: "".join(f"={b:02X}" for b in m.group().encode()), raw)


def decode_key(key: str) -> str:
    return re.sub(
        r"(?:=[0-9A-F]{2})+",
        lambda m: bytes.fromhex(m.group().replace("=", "")).decode(),
        key,
    )


async def read_entry(kv: KeyValue, key: str) -> KeyValue.Entry | None:
    """The entry under `key` (its value and revision); None when there is none, or a delete marker."""
    try:
        entry = await kv.get(key)
    except NotFoundError:
        return None
    return entry if entry.value else None


async def ensure_bucket(
    js: JetStreamContext,
    bucket: str,
    *,
    history: int = 1,
    replicas: int = 1,
    max_age: float = 0.0,
    max_bytes: int = -1,
) -> KeyValue:
    """The bucket, created with file storage when missing; its age and size limits brought to the
    ones given when it exists (0 / -1: unlimited)."""
    try:
        kv = await js.key_value(bucket)
    except BucketNotFoundError:
        config = KeyValueConfig(
            bucket=bucket,
            history=history,
            storage=StorageType.FILE,
            replicas=replicas,
            ttl=max_age or None,
            max_bytes=max_bytes,
        )
        return await js.create_key_value(config=config)
    stream = f"KV_{bucket}"
    info = await js.stream_info(stream)
    if (info.config.max_age or 0.0) != max_age or (info.config.max_bytes or -1) != max_bytes:
        await js.update_stream(replace(info.config, max_age=max_age, max_bytes=max_bytes))
    return kv


async def bucket_keys(kv: KeyValue) -> list[str]:
    """Every key the bucket holds a value or a delete marker for, from its stream's subject index in
    one request. (nats-py's `KeyValue.keys()` watches the bucket, and on a busy connection its
    end-of-keys marker can overtake the first entry, so it lists nothing.) Deleted keys stay listed:
    their reads say they are gone."""
    # nats-py keeps the bucket's stream, subject prefix and JetStream context on the KeyValue only.
    js, stream, prefix = kv._js, kv._stream, kv._pre
    info = await js.stream_info(stream, subjects_filter=f"{prefix}>")
    return sorted(subject[len(prefix) :] for subject in (info.state.subjects or {}))


async def watch_all(kv: KeyValue) -> KeyValue.KeyWatcher:
    """nats-py's `watchall`, without its flow-control poll: a task that wakes four times a second for
    as long as the watcher lives (at idle, most of a ledger's CPU). nats-py answers a flow-control
    request at once when every message before it has been received, which on a callback subscription
    (the watcher's) is always so: the poll never has anything to send."""
    watcher = await kv.watchall()
    # nats-py keeps the subscription's JetStream state (and the poll task) on private attributes.
    sub = getattr(watcher._sub, "_sub", None)
    state = getattr(sub, "_jsi", None)
    poll = getattr(state, "_fctask", None)
    if sub is not None and sub._cb is not None and poll is not None:
        poll.cancel()
    return watcher
