"""Children started through x402fac.children end when their parent is killed outright, and a
short-lived thread that starts one does not take it along when it exits."""

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.fixtures.processes import child_ends_with_its_owner, running, wait_gone
from x402fac.children import die_with_parent, popen

OWNER = """
import time
from x402fac.children import popen
print(popen(["sleep", "600"]).pid, flush=True)
time.sleep(600)
"""


def test_the_child_of_a_killed_process_ends() -> None:
    assert child_ends_with_its_owner(OWNER, exe="sleep")


def _start_in_a_thread(start) -> subprocess.Popen:
    """`start()` run by a thread that has fully exited (its task gone from /proc) when this returns."""
    started: list[subprocess.Popen] = []
    thread = threading.Thread(target=lambda: started.append(start()))
    thread.start()
    thread.join()
    task = Path(f"/proc/self/task/{thread.native_id}")
    while task.exists():
        time.sleep(0.01)
    return started[0]


def _signalled(pid: int) -> bool:
    """Gone, a zombie, or with a signal pending (a fatal one is pending until the child has died)."""
    if not running(pid):
        return True
    status = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(status["SigPnd"], 16) != 0 or int(status["ShdPnd"], 16) != 0


def test_a_child_outlives_the_short_lived_thread_that_started_it() -> None:
    # What popen guards against: the kernel's parent is the forking thread, so a plain preexec hook
    # run from a thread that ends kills the child with it.
    unguarded = _start_in_a_thread(lambda: subprocess.Popen(["sleep", "600"], preexec_fn=die_with_parent()))
    guarded = _start_in_a_thread(lambda: popen(["sleep", "600"]))
    try:
        assert wait_gone(unguarded.pid)
        assert unguarded.wait() == -signal.SIGTERM
        assert not _signalled(guarded.pid)
        assert guarded.poll() is None
    finally:
        for child in (unguarded, guarded):
            child.kill()
            child.wait()


def _timer_slack(pid: int) -> int:
    return int(Path(f"/proc/{pid}/timerslack_ns").read_text())


def test_a_child_started_with_timer_slack_has_it_and_others_keep_the_default() -> None:
    slack = _start_in_a_thread(lambda: popen(["sleep", "600"], timer_slack_ns=5_000_000))
    plain = popen(["sleep", "600"])
    try:
        assert _timer_slack(slack.pid) == 5_000_000
        assert _timer_slack(plain.pid) == _timer_slack(os.getpid())
    finally:
        for child in (slack, plain):
            child.kill()
            child.wait()
