"""The worker's memory of hang-ups it heard for requests it did not hold."""

import time

from x402fac.worker.requester import DetachedRequests


def test_a_hang_up_is_remembered_until_it_expires():
    detached = DetachedRequests(keep_seconds=0.2, most=10)
    detached.remember("a")
    assert "a" in detached and "b" not in detached
    time.sleep(0.25)
    assert "a" not in detached  # past any deadline it could matter for
    detached.remember("b")
    assert len(detached) == 1  # the expired entry is dropped on the way


def test_a_flood_of_hang_ups_keeps_memory_bounded_forgetting_the_oldest():
    detached = DetachedRequests(keep_seconds=60, most=100)
    for n in range(10_000):
        detached.remember(f"r{n}")
    assert len(detached) == 100
    assert "r9999" in detached and "r9900" in detached and "r9899" not in detached


def test_hearing_a_hang_up_again_renews_it():
    detached = DetachedRequests(keep_seconds=60, most=2)
    detached.remember("a")
    detached.remember("b")
    detached.remember("a")  # now the newest
    detached.remember("c")
    assert "a" in detached and "c" in detached and "b" not in detached
