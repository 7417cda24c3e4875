"""Child processes that die with the process that started them.

A parent killed outright (SIGKILL, the OOM killer, a test run cut short by its timeout) runs no
cleanup: the nats-server, anvil, devnets and services it started would keep their ports for the rest of
the machine's life. On Linux the kernel signals such a child when its parent goes (prctl
PR_SET_PDEATHSIG); elsewhere nothing changes.

The kernel's parent is the *thread* that forked the child, not the process: the child is signalled as
soon as that thread exits. `popen` therefore forks from a thread that lives as long as the process (the
main thread, or else one spawner thread started for the purpose). An asyncio child
(`asyncio.create_subprocess_exec(..., preexec_fn=die_with_parent())`) is forked by its event loop's
thread, which is fine: the child cannot be waited for or stopped once that loop is gone, and asyncio
kills it when the loop's transport for it is closed.

`popen(..., timer_slack_ns=N)` also lets the kernel delay the child's timers by up to N ns (prctl
PR_SET_TIMERSLACK, inherited by every thread it starts), so that it is woken less often by timers.
"""

import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future

__all__ = ["die_with_parent", "popen"]

_PR_SET_PDEATHSIG = 1
_PR_SET_TIMERSLACK = 29
# Looked up once here: a forked child should run as little as possible before exec.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def die_with_parent(sig: int = signal.SIGTERM, timer_slack_ns: int = 0) -> Callable[[], None] | None:
    """A `preexec_fn`: the child gets `sig` when the thread forking it exits (None where unsupported);
    with `timer_slack_ns`, its timers may fire that much late."""
    if _prctl is None:
        return None
    parent = os.getpid()

    def arm() -> None:
        _prctl(_PR_SET_PDEATHSIG, int(sig))
        if os.getppid() != parent:  # the parent went before the prctl: no signal would ever come
            os._exit(1)
        if timer_slack_ns:
            _prctl(_PR_SET_TIMERSLACK, timer_slack_ns)

    return arm


def popen(args, timer_slack_ns: int = 0, **kwargs) -> subprocess.Popen:
    """`subprocess.Popen` whose child gets SIGTERM when this process ends, however it ends; its timers
    may fire up to `timer_slack_ns` late (0: the kernel's default, 50 µs)."""
    kwargs["preexec_fn"] = die_with_parent(timer_slack_ns=timer_slack_ns)
    if threading.current_thread() is threading.main_thread():
        return subprocess.Popen(args, **kwargs)
    return _Spawner.shared().spawn(lambda: subprocess.Popen(args, **kwargs))


class _Spawner:
    """A daemon thread that forks children for short-lived threads; it never returns, so it lives
    until the process exits."""

    _instance: "_Spawner | None" = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[tuple[Callable[[], subprocess.Popen], Future]] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="x402fac-spawner", daemon=True).start()

    @classmethod
    def shared(cls) -> "_Spawner":
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def spawn(self, start: Callable[[], subprocess.Popen]) -> subprocess.Popen:
        done: Future[subprocess.Popen] = Future()
        self._requests.put((start, done))
        return done.result()

    def _serve(self) -> None:
        while True:
            start, done = self._requests.get()
            try:
                done.set_result(start())
            except BaseException as exc:
                done.set_exception(exc)


def _forget_spawner() -> None:
    """A forked copy of this process has no spawner thread: it starts its own when it needs one."""
    _Spawner._instance = None
    _Spawner._lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_spawner)
