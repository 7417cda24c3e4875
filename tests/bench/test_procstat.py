"""CPU time of another process: every thread's, exited ones included; 0 once the process is gone."""

import subprocess
import sys

from bench.procstat import cpu_seconds

CHILD = """
import sys, threading, time
def burn():
    end = time.thread_time() + 0.05
    while time.thread_time() < end:
        pass
worker = threading.Thread(target=burn)
worker.start()
worker.join()  # the thread is gone: its CPU still counts for the process
print(time.process_time(), flush=True)
sys.stdin.read()
"""


def test_counts_the_cpu_of_threads_that_exited_and_nothing_once_gone():
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        own = float(child.stdout.readline())  # what the child counted for itself
        assert own >= 0.05
        assert cpu_seconds(child.pid) >= own
    finally:
        child.communicate("")
    assert cpu_seconds(child.pid) == 0.0
