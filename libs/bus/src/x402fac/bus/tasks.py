"""Stopping background tasks for certain.

Python 3.11's `asyncio.wait_for` drops a cancellation that arrives in the same loop turn as the
operation it waits for completes, and returns that result instead (fixed in 3.12). nats-py waits that
way in KV watchers (`updates`), pull fetches (`next_msg`) and requests, so a loop over one of them,
cancelled once while messages keep coming, may carry on forever, and `await task` after `cancel()`
would never return: a service would hang on SIGTERM until it is killed.
"""

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)
CANCEL_AGAIN_SECONDS = 0.1  # long enough for a task's own clean-up to run


async def cancel_and_wait(task: asyncio.Task | None, timeout: float = 5.0) -> bool:
    """Cancel `task` until it has ended, waiting at most `timeout` seconds; True once it has ended.

    A task that ends with an error is logged, not raised: the caller is stopping anyway."""
    if task is None:
        return True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not task.done():
        left = deadline - loop.time()
        if left <= 0:
            log.warning("task %s did not stop within %.1fs", task.get_name(), timeout)
            return False
        task.cancel()
        await asyncio.wait({task}, timeout=min(CANCEL_AGAIN_SECONDS, left))
    if not task.cancelled():
        with contextlib.suppress(asyncio.CancelledError):
            error = task.exception()
            if error is not None:
                log.warning("task %s ended with %r", task.get_name(), error)
    return True
