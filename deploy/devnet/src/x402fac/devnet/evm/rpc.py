"""Just enough EVM on top of the shared JSON-RPC client to set up the devnet and run its faucet: calls,
signed EIP-1559 sends, receipts."""

from __future__ import annotations

import asyncio
from typing import Any

from eth_abi import encode
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from x402fac.rpc import JsonRpcClient
from x402fac.rpc import RpcError as JsonRpcError


class RpcError(JsonRpcError):
    """A JSON-RPC error; `error` is the node's error object as sent (revert data in `error["data"]`)."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        super().__init__(method, error)
        self.error = error


def selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def calldata(signature: str, types: list[str], args: list[Any]) -> str:
    return "0x" + (selector(signature) + encode(types, args)).hex()


class DevnetRpc(JsonRpcClient):
    """The JSON-RPC client on the devnet's one node URL; `async with DevnetRpc(url) as rpc` closes it."""

    error_type = RpcError

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        super().__init__([url], timeout)
        self.url = url

    async def __aenter__(self) -> DevnetRpc:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

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
