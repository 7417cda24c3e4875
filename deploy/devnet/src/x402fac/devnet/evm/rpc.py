"""Just enough JSON-RPC to set up the devnet and run its faucet: calls, signed EIP-1559 sends, receipts."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aiohttp
from eth_abi import encode
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

_ids = itertools.count(1)


class RpcError(RuntimeError):
    def __init__(self, method: str, error: dict):
        super().__init__(f"{method}: {error.get('message')} {error.get('data') or ''}".rstrip())
        self.error = error


def selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def calldata(signature: str, types: list[str], args: list[Any]) -> str:
    return "0x" + (selector(signature) + encode(types, args)).hex()


class DevnetRpc:
    """A JSON-RPC client bound to one node URL (the devnet has exactly one)."""

    def __init__(self, url: str, session: aiohttp.ClientSession | None = None):
        self.url = url
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> DevnetRpc:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, method: str, *params: Any) -> Any:
        assert self._session is not None, "use `async with DevnetRpc(url)`"
        body = {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": list(params)}
        async with self._session.post(self.url, json=body) as response:
            reply = await response.json(content_type=None)
        if "error" in reply:
            raise RpcError(method, reply["error"])
        return reply["result"]

    async def chain_id(self) -> int:
        return int(await self.call("eth_chainId"), 16)

    async def balance(self, address: str) -> int:
        return int(await self.call("eth_getBalance", address, "latest"), 16)

    async def eth_call(self, to: str, data: str) -> bytes:
        return bytes.fromhex((await self.call("eth_call", {"to": to, "data": data}, "latest"))[2:])

    async def send(
        self, private_key: str, to: str | None, data: str = "0x", value: int = 0, nonce: int | None = None
    ) -> str:
        """Signs and broadcasts an EIP-1559 transaction; returns its hash (not waiting for it)."""
        sender = Account.from_key(private_key).address
        if nonce is None:
            nonce = int(await self.call("eth_getTransactionCount", sender, "pending"), 16)
        chain_id, latest, tip = await asyncio.gather(
            self.chain_id(),
            self.call("eth_getBlockByNumber", "latest", False),
            self.call("eth_maxPriorityFeePerGas"),
        )
        tx = {
            "type": 2,
            "chainId": chain_id,
            "nonce": nonce,
            "value": value,
            "data": data,
            "gas": 3_000_000 if to is None else 300_000,
            "maxPriorityFeePerGas": int(tip, 16),
            "maxFeePerGas": 2 * int(latest["baseFeePerGas"], 16) + int(tip, 16),
        }
        if to is not None:
            tx["to"] = to_checksum_address(to)
        signed = Account.sign_transaction(tx, private_key)
        return await self.call("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())

    async def wait_receipt(self, tx_hash: str, timeout: float = 30.0) -> dict:
        """The receipt of a mined transaction; raises when it reverted or did not arrive in time."""
        async with asyncio.timeout(timeout):
            while True:
                receipt = await self.call("eth_getTransactionReceipt", tx_hash)
                if receipt is not None:
                    break
                await asyncio.sleep(0.05)
        if receipt["status"] != "0x1":
            raise RuntimeError(f"transaction {tx_hash} reverted")
        return receipt
