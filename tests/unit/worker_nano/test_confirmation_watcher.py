"""The confirmation watcher: a block is reported only once the node says it is confirmed, it is asked
about when confirmations usually arrive (learned), and blocks waited on together share requests."""

import asyncio

from x402fac.worker_nano.chain import ConfirmationWatcher


class Node:
    """A node double: each block is confirmed from its n-th `blocks_info` answer on (never if absent)."""

    def __init__(self, confirmed_from: dict[str, int], failures: int = 0) -> None:
        self.confirmed_from = confirmed_from
        self.failures = failures
        self.asked: dict[str, int] = {}
        self.calls: list[list[str]] = []

    async def blocks_info(self, hashes: list[str]) -> dict[str, dict[str, str]]:
        self.calls.append(list(hashes))
        if self.failures:
            self.failures -= 1
            raise OSError("node unreachable")
        answer = {}
        for block_hash in hashes:
            self.asked[block_hash] = self.asked.get(block_hash, 0) + 1
            n = self.confirmed_from.get(block_hash)
            confirmed = n is not None and self.asked[block_hash] >= n
            answer[block_hash] = {"confirmed": "true" if confirmed else "false"}
        return answer


def watcher_for(node: Node) -> ConfirmationWatcher:
    return ConfirmationWatcher(node, interval=0.01)  # type: ignore[arg-type]


async def test_a_confirmed_block_costs_one_request_and_the_first_ask_comes_sooner_next_time():
    node = Node({"A": 1})
    watcher = watcher_for(node)
    before = watcher.expected
    assert await watcher.wait("A", timeout=5)
    assert node.calls == [["A"]]
    assert watcher.expected < before
    await watcher.close()


async def test_a_block_confirmed_late_is_asked_again_and_the_first_ask_comes_later_next_time():
    node = Node({"B": 3})
    watcher = watcher_for(node)
    before = watcher.expected
    assert await watcher.wait("B", timeout=5)
    assert node.asked["B"] == 3
    assert watcher.expected > before
    await watcher.close()


async def test_a_block_the_node_has_but_has_not_confirmed_is_never_reported():
    node = Node({})  # "confirmed": "false" on every answer
    watcher = watcher_for(node)
    assert not await watcher.wait("C", timeout=0.2)
    assert node.asked["C"] >= 1
    assert watcher._waiters == {} and watcher._due == {} and watcher._unasked == set()
    await watcher.close()


async def test_a_failed_request_is_retried_and_teaches_nothing():
    node = Node({"D": 1}, failures=2)
    watcher = watcher_for(node)
    before = watcher.expected
    assert await watcher.wait("D", timeout=5)
    assert len(node.calls) == 3
    assert watcher.expected < before  # only the answer that came back counted, as a first ask
    await watcher.close()


async def test_blocks_waited_on_together_share_one_request_and_teach_one_step():
    blocks = [f"H{i}" for i in range(20)]
    node = Node(dict.fromkeys(blocks, 1))
    watcher = watcher_for(node)
    before = watcher.expected
    assert all(await asyncio.gather(*(watcher.wait(block, timeout=5) for block in blocks)))
    assert node.calls == [blocks]
    assert watcher.expected == before * ConfirmationWatcher.SHRINK  # not SHRINK**20
    await watcher.close()


async def test_a_request_where_some_blocks_are_confirmed_moves_expected_less_than_a_whole_step():
    watcher = watcher_for(Node({}))
    before = watcher.expected
    watcher._learn(0.5)
    assert before * ConfirmationWatcher.SHRINK < watcher.expected < before * ConfirmationWatcher.GROW
    await watcher.close()


async def test_expected_stays_within_its_bounds():
    watcher = watcher_for(Node({}))
    for _ in range(100):
        watcher._learn(0.0)
    assert watcher.expected == ConfirmationWatcher.MAX_EXPECTED
    for _ in range(1000):
        watcher._learn(1.0)
    assert watcher.expected == watcher.first_poll
    await watcher.close()
