"""The receipt watcher asks about a transaction found unmined again only once a later block came (or
after REASK_SECONDS): on a chain with block times, once a block instead of once a tick, but for its
first moments, when a chain mining on arrival includes it: then with every poll, in its one request.
A receipt is only ever taken from the node's answer."""

from __future__ import annotations

import asyncio

from x402fac.worker_evm import chain
from x402fac.worker_evm.chain import ReceiptWatcher, RpcError


class Node:
    """A chain the test mines by hand (a double of the node, not of the watcher under test)."""

    def __init__(self, receipts_first: bool = False) -> None:
        self.head = 10
        self.mined: dict[str, int] = {}
        self.asked: list[str] = []
        self.heads_read = 0
        self.requests = 0
        self.answered = asyncio.Event()  # set once a request was answered
        # mine this transaction after the receipts of a batch are read, before its head is
        self.mine_between: str | None = None
        self.receipts_first = receipts_first

    def mine(self, *txs: str) -> None:
        self.head += 1
        for tx in txs:
            self.mined[tx] = self.head

    async def batch(self, calls: list[tuple[str, list]]) -> list:
        self.requests += 1
        await asyncio.sleep(0)
        answers: dict[int, object] = {}
        order = sorted(range(len(calls)), key=lambda i: calls[i][0] == "eth_blockNumber")
        for i in order if self.receipts_first else range(len(calls)):
            method, params = calls[i]
            if method == "eth_blockNumber":
                if self.mine_between is not None:
                    self.mine(self.mine_between)
                    self.mine_between = None
                self.heads_read += 1
                answers[i] = hex(self.head)
            else:
                (tx,) = params
                self.asked.append(tx)
                block = self.mined.get(tx)
                answers[i] = None if block is None else {"transactionHash": tx, "blockNumber": hex(block)}
        self.answered.set()
        return [answers[i] for i in range(len(calls))]


def watcher(node: Node, fresh: float = 0.03) -> ReceiptWatcher:
    return ReceiptWatcher(node, interval=0.01, fresh=fresh)  # type: ignore[arg-type]


async def test_an_unmined_transaction_is_asked_again_only_after_a_new_block():
    node = Node()
    receipts = watcher(node)  # a chain not known to mine on arrival
    waiting = asyncio.ensure_future(receipts.wait("0xa", timeout=5))
    await asyncio.sleep(0.3)  # many ticks, no block
    assert node.heads_read > 5
    assert node.asked.count("0xa") <= 2  # its first look, and once more after the head was read
    node.mine("0xa")
    receipt = await waiting
    assert receipt == {"transactionHash": "0xa", "blockNumber": hex(node.head)}
    await receipts.close()


async def test_a_transaction_already_in_the_last_block_is_found_at_its_first_look():
    node = Node()
    node.mine("0xb")  # automine: mined as it was sent
    receipts = watcher(node)
    assert (await receipts.wait("0xb", timeout=5))["transactionHash"] == "0xb"
    assert node.asked == ["0xb"]
    await receipts.close()


async def test_mined_between_its_receipt_and_the_head_read_is_still_found_without_another_block():
    node = Node(receipts_first=True)
    receipts = watcher(node)
    node.mine_between = "0xc"  # the batch reads the receipt (missing), then the block comes, then the head
    receipt = await receipts.wait("0xc", timeout=1)
    assert receipt is not None and receipt["transactionHash"] == "0xc"
    await receipts.close()


async def test_without_any_new_block_it_is_asked_again_after_the_reask_time(monkeypatch):
    monkeypatch.setattr(chain, "REASK_SECONDS", 0.1)
    node = Node()
    receipts = watcher(node)
    waiting = asyncio.ensure_future(receipts.wait("0xd", timeout=2))
    await asyncio.sleep(0.05)
    head = node.head
    node.mined["0xd"] = head  # e.g. a reorg put it in a block of the same height
    assert (await waiting)["transactionHash"] == "0xd"
    assert node.head == head


async def test_an_error_answer_is_no_receipt():
    class Failing(Node):
        async def batch(self, calls):
            answers = await super().batch(calls)
            return [
                RpcError(m, {"message": "boom"}) if m != "eth_blockNumber" else a
                for (m, _), a in zip(calls, answers, strict=True)
            ]

    node = Failing()
    node.mine("0xe")
    receipts = watcher(node)
    assert await receipts.wait("0xe", timeout=0.2) is None
    await receipts.close()


async def test_many_waiting_share_one_read_per_block():
    blocks = 3
    node = Node()
    receipts = watcher(node)
    txs = [f"0x{i:02x}" for i in range(20)]
    waiting = [asyncio.ensure_future(receipts.wait(tx, timeout=5)) for tx in txs]
    for _ in range(blocks):
        await asyncio.sleep(0.1)
        node.mine()
    node.mine(*txs)
    assert all(await asyncio.gather(*waiting))
    # each: its first look, its look once the head is known, then once per block
    assert max(node.asked.count(tx) for tx in txs) <= 2 + blocks + 1
    await receipts.close()


async def test_on_a_chain_mining_on_arrival_a_fresh_transaction_is_asked_with_every_poll():
    """Automine: the first look comes as the transaction is sent, before its block; the block comes a
    moment later, and the next poll finds the receipt in its one request (not the head first and the
    receipt in a second request), without waiting out the interval."""
    node = Node()
    receipts = ReceiptWatcher(node, interval=1.0, fresh=1.0)  # type: ignore[arg-type]
    receipts._learn(True)  # a receipt was found moments after its first look
    waiting = asyncio.ensure_future(receipts.wait("0xf", timeout=5))
    await node.answered.wait()  # its first look: not mined yet
    node.mine("0xf")
    requests = node.requests
    assert (await waiting)["transactionHash"] == "0xf"
    assert node.requests == requests + 1
    await receipts.close()


async def test_it_learns_whether_the_chain_mines_on_arrival():
    node = Node()
    receipts = ReceiptWatcher(node, interval=0.01, fresh=0.1)  # type: ignore[arg-type]
    assert not receipts.mines_on_arrival  # until a receipt says so: once a block

    async def mined_after(tx: str, delay: float) -> None:
        waiting = asyncio.ensure_future(receipts.wait(tx, timeout=5))
        node.answered.clear()
        await node.answered.wait()  # its first look: not mined yet
        await asyncio.sleep(delay)
        node.mine(tx)
        assert await waiting

    await mined_after("0x11", 0.001)
    assert receipts.mines_on_arrival
    await mined_after("0x12", 0.3)  # a block of its own time
    assert not receipts.mines_on_arrival
    await receipts.close()


async def test_on_a_chain_mining_on_arrival_past_its_fresh_moments_it_is_asked_once_a_block():
    node = Node()
    receipts = watcher(node, fresh=0.2)
    receipts._learn(True)
    waiting = asyncio.ensure_future(receipts.wait("0x10", timeout=5))
    await asyncio.sleep(0.6)  # many ticks, no block
    fresh_asks = node.asked.count("0x10")
    assert fresh_asks > 2  # with every poll while fresh
    await asyncio.sleep(0.3)
    assert node.asked.count("0x10") == fresh_asks  # then not until a block comes
    node.mine("0x10")
    assert (await waiting)["transactionHash"] == "0x10"
    await receipts.close()
