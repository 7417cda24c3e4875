"""Shared window counters on a JetStream counter stream: one publish, the ack carries the total."""

import time

from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from . import subjects

INCREMENT = {"Nats-Incr": "+1"}


async def ensure_rate_stream(
    js: JetStreamContext, window_seconds: int = 60, max_bytes: int = 256 * 1024 * 1024, replicas: int = 1
) -> None:
    config = StreamConfig(
        name=subjects.RATE_STREAM,
        subjects=[f"{subjects.RATE_PREFIX}.>"],
        storage=StorageType.FILE,
        allow_msg_counter=True,
        max_msgs_per_subject=1,
        max_age=float(2 * window_seconds),
        max_bytes=max_bytes,
        num_replicas=replicas,
    )
    try:
        await js.stream_info(subjects.RATE_STREAM)
        await js.update_stream(config)
    except NotFoundError:
        await js.add_stream(config)


def current_window(window_seconds: int, now: float | None = None) -> tuple[int, int]:
    """(window number, seconds until it ends)."""
    now = time.time() if now is None else now
    window = int(now // window_seconds)
    return window, max(1, int((window + 1) * window_seconds - now + 0.999))


async def increment(js: JetStreamContext, subject: str, timeout: float = 2.0, once_as: str = "") -> int:
    """The new total; with `once_as`, an increment already made under that id (within the stream's
    duplicate window) is not made again, and 0 is returned: it was counted the first time."""
    headers = dict(INCREMENT)
    if once_as:
        headers["Nats-Msg-Id"] = once_as
    ack = await js.publish(subject, b"", headers=headers, timeout=timeout)
    if ack.duplicate:
        return 0
    return int(ack.val or 0)
