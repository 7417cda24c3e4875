"""What a service built while starting is frozen out of the collector's reach; garbage left by
starting is collected first (a frozen cycle would never be freed). In a child interpreter: freezing
this test session's heap would keep everything it holds now for the rest of the run."""

import subprocess
import sys

PROGRAM = """
import gc, weakref
from x402fac.telemetry import freeze_startup

class Node:
    pass

garbage = Node()
garbage.me = garbage  # a cycle nothing refers to: only the collector frees it
gone = weakref.ref(garbage)
del garbage
kept = [Node() for _ in range(1000)]
before = len(gc.get_objects())
freeze_startup()
print(gone() is None, gc.get_freeze_count() >= 1000, len(gc.get_objects()) < before // 10)
"""


def test_starting_garbage_is_collected_and_the_rest_frozen():
    answer = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True)
    assert answer.stdout.split() == ["True", "True", "True"]
