"""A nano_node RPC client: the actions x402fac uses, in the node's request and answer shapes.

    node = NanoNode(transport)              # anything with `async post_json(body, what)` and `async close()`
    state = await node.account_info(address)   # None when the account is not opened
    block_hash = await node.process(block, "send")

The transport carries the JSON: the workers, devnet faucet, bench and tests pass
`x402fac.rpc.FailoverHttp` (pooled keep-alive HTTP, failover between URLs); `UrllibTransport` needs nothing but the
standard library (what `x402_client` uses, so this package depends on no HTTP library). A node's
`{"error": message}` answer is a `NodeError` carrying the node's exact message; transport failures are the
transport's exceptions.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from typing import Any, Protocol

from .blocks import StateBlock

ACCOUNT_NOT_FOUND = "Account not found"
BLOCK_NOT_FOUND = "Block not found"


class NodeError(Exception):
    """The node answered {"error": message} (the request reached a node)."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action}: {message}")
        self.action = action
        self.message = message


class Transport(Protocol):
    async def post_json(self, body: Any, what: str = "request") -> Any: ...

    async def close(self) -> None: ...


class UrllibTransport:
    """POSTs JSON to one URL with the standard library, off the event loop. Failures raise OSError."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url
        self.timeout = timeout

    def _post(self, body: Any) -> Any:
        request = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read())

    async def post_json(self, body: Any, what: str = "request") -> Any:
        return await asyncio.to_thread(self._post, body)

    async def close(self) -> None:
        return None


class NanoNode:
    """nano_node RPC over a transport; every method is one request (wait_confirmed polls)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    async def close(self) -> None:
        await self.transport.close()

    def malformed(self, action: str, answer: Any) -> Exception:
        """What to raise when the node's answer is not a JSON object (a worker makes it a transport fault)."""
        return NodeError(action, f"the node answered {answer!r:.80}, not a JSON object")

    async def call(self, action: str, **params: Any) -> dict[str, Any]:
        answer = await self.transport.post_json({"action": action, **params}, action)
        if not isinstance(answer, dict):
            raise self.malformed(action, answer)
        if "error" in answer:
            raise NodeError(action, str(answer["error"]))
        return answer

    async def account_info(self, address: str, representative: bool = True) -> dict[str, Any] | None:
        """Confirmed and unconfirmed state of an account (with representatives unless told otherwise), or
        None if it is not opened."""
        flags = {"representative": "true"} if representative else {}
        try:
            return await self.call("account_info", account=address, include_confirmed="true", **flags)
        except NodeError as error:
            if error.message == ACCOUNT_NOT_FOUND:
                return None
            raise

    async def account_balance(self, address: str) -> tuple[int, int]:
        """(balance, receivable) in raw; the node answers zeros for an account it has never seen."""
        answer = await self.call("account_balance", account=address)
        return int(answer["balance"]), int(answer.get("receivable", answer.get("pending", "0")))

    async def block_info(self, block_hash: str) -> dict[str, Any] | None:
        """The block with its `amount`, `confirmed`, ..., or None if the node does not have it."""
        try:
            return await self.call("block_info", hash=block_hash, json_block="true")
        except NodeError as error:
            if error.message == BLOCK_NOT_FOUND:
                return None
            raise

    async def blocks_info(self, hashes: list[str]) -> dict[str, Any]:
        """Hash -> block entry for the blocks the node has (unknown ones are left out)."""
        answer = await self.call("blocks_info", hashes=hashes, include_not_found="true")
        blocks = answer.get("blocks") or {}  # the node writes an empty map as ""
        return {block_hash: entry for block_hash, entry in blocks.items() if isinstance(entry, dict)}

    async def process(self, block: StateBlock | dict[str, Any], subtype: str) -> str:
        """Publishes a signed, worked block; returns its hash."""
        body = block.to_json() if isinstance(block, StateBlock) else block
        answer = await self.call("process", json_block="true", subtype=subtype, block=body)
        return str(answer["hash"])

    async def receivable(self, address: str, count: int = 100_000, confirmed_only: bool = False) -> set[str]:
        """Hashes (upper-case) of the sends waiting to be received by `address`."""
        answer = await self.call(
            "receivable",
            account=address,
            count=str(count),
            include_only_confirmed="true" if confirmed_only else "false",
        )
        return {block_hash.upper() for block_hash in answer.get("blocks") or []}

    async def work_generate(self, root: bytes, difficulty: int) -> str:
        """The node's work (hex) for `root` at `difficulty`."""
        answer = await self.call("work_generate", hash=root.hex().upper(), difficulty=f"{difficulty:016x}")
        return str(answer["work"])

    async def wait_confirmed(self, block_hash: str, timeout: float = 10.0, poll: float = 0.02) -> None:
        """Returns once the node has confirmed the block; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            block = await self.block_info(block_hash)
            if block is not None and block.get("confirmed") == "true":
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"block {block_hash} not confirmed within {timeout}s")
            await asyncio.sleep(poll)
