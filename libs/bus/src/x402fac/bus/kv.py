"""JetStream key-value helpers. Keys must match ^[-/_=.a-zA-Z0-9]+$, so others are escaped as =XX."""

import re

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

_UNSAFE = re.compile(r"[^-/_a-zA-Z0-9]")


def encode_key(raw: str) -> str:
    """Reversible escape of anything outside [-/_a-zA-Z0-9] (dots too: they split subject tokens)."""
    if not raw:
        raise ValueError("empty key")
    return _UNSAFE.sub(lambda m: "".join(f"={b:02X}" for b in m.group().encode()), raw)


def decode_key(key: str) -> str:
    return re.sub(
        r"(?:=[0-9A-F]{2})+",
        lambda m: bytes.fromhex(m.group().replace("=", "")).decode(),
        key,
    )


async def ensure_bucket(
    js: JetStreamContext, bucket: str, *, history: int = 1, replicas: int = 1
) -> KeyValue:
    """The bucket, created with file storage when missing."""
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        config = KeyValueConfig(bucket=bucket, history=history, storage=StorageType.FILE, replicas=replicas)
        return await js.create_key_value(config=config)
