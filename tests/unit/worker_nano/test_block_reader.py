"""Batched block reads: concurrent lookups share `blocks_info` requests, each caller gets its own block
(or None), and a failed request reaches every caller waiting on it."""

import asyncio

from x402fac.worker_nano.chain import BlockReader


class Node:
    """A node double holding some blocks; records every `blocks_info` request."""

    def __init__(self, blocks: dict[str, dict[str, str]], fail: bool = False) -> None:
        self.blocks = blocks
        self.fail = fail
        self.calls: list[list[str]] = []

    async def blocks_info(self, hashes: list[str]) -> dict[str, dict[str, str]]:
        self.calls.append(list(hashes))
        await asyncio.sleep(0)
        if self.fail:
            raise OSError("node unreachable")
        return {block_hash: self.blocks[block_hash] for block_hash in hashes if block_hash in self.blocks}


async def test_concurrent_reads_share_requests_and_each_gets_its_own_block():
    blocks = {f"H{i}": {"balance": str(i)} for i in range(40)}
    node = Node(blocks)
    reader = BlockReader(node)  # type: ignore[arg-type]
    wanted = [*blocks, "MISSING", "H3"]
    answers = await asyncio.gather(*(reader.block(block_hash) for block_hash in wanted))
    assert answers == [blocks.get(block_hash) for block_hash in wanted]
    assert node.calls == [[*blocks, "MISSING"]]  # asked together: one request, each hash once


async def test_batches_are_bounded():
    node = Node({})
    reader = BlockReader(node, max_batch=5)  # type: ignore[arg-type]
    await asyncio.gather(*(reader.block(f"H{i}") for i in range(12)))
    assert [len(call) for call in node.calls] == [5, 5, 2]


async def test_a_failed_request_fails_every_caller_and_the_reader_recovers():
    node = Node({"A": {"balance": "1"}}, fail=True)
    reader = BlockReader(node)  # type: ignore[arg-type]
    results = await asyncio.gather(reader.block("A"), reader.block("B"), return_exceptions=True)
    assert all(isinstance(result, OSError) for result in results)
    node.fail = False
    assert await reader.block("A") == {"balance": "1"}


async def test_a_lookup_asked_while_a_request_is_out_does_not_wait_for_it():
    gate = asyncio.Event()

    class SlowNode(Node):
        async def blocks_info(self, hashes):
            if hashes == ["SLOW"]:
                await gate.wait()
            return await super().blocks_info(hashes)

    node = SlowNode({"SLOW": {"balance": "1"}, "FAST": {"balance": "2"}})
    reader = BlockReader(node)  # type: ignore[arg-type]
    slow = asyncio.ensure_future(reader.block("SLOW"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert await reader.block("FAST") == {"balance": "2"}
    assert not slow.done()
    gate.set()
    assert await slow == {"balance": "1"}
