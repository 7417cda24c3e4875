"""EVM side of the benchmark: payers, pre-signed EIP-3009 and Permit2 payments, fresh devnets, on-chain
cross-checks.

Payments are signed once, before any timing, with coincurve over the EIP-712 digest (checked against
eth_account in the smoke test). Every target gets its own fresh anvil, but the token sits at the same
address with the same chain id on each, so the same signed payments are valid on all of them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import coincurve
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from x402fac.devnet.evm import (
    CHAIN_ID,
    ERC20_ADDRESS,
    EXACT_PERMIT2_PROXY_ADDRESS,
    NETWORK,
    PERMIT2_ADDRESS,
    USDC_ADDRESS,
    USDC_NAME,
    USDC_VERSION,
    EvmDevnet,
)
from x402fac.devnet.evm.contracts import artifacts_path, load_artifacts
from x402fac.devnet.evm.rpc import DevnetRpc, calldata
from x402fac.rpc import NodeUnavailable
from x402fac.worker_evm import eip3009, permit2

TRANSFER_TOPIC = eip3009.TRANSFER_TOPIC
PAYER_USDC = 10_000 * 10**6  # per payer, per fresh chain: far more than any run spends
PAYMENT_AMOUNT = 1_000  # 0.001 USDC


@dataclass(frozen=True, slots=True)
class Payer:
    key: bytes
    address: str

    @classmethod
    def create(cls) -> Payer:
        key = coincurve.PrivateKey()
        public = key.public_key.format(compressed=False)[1:]
        return cls(key.secret, to_checksum_address(keccak(public)[-20:]))


@dataclass(frozen=True, slots=True)
class Payment:
    """One signed payment, as the JSON body every target's /verify and /settle accepts."""

    body: bytes
    payer: str
    nonce: str
    pay_to: str
    amount: int
    token: str = USDC_ADDRESS


def new_address() -> str:
    return to_checksum_address(os.urandom(20))


def domain_separator(chain_id: int = CHAIN_ID, token: str = USDC_ADDRESS) -> bytes:
    return eip3009.domain_separator(USDC_NAME, USDC_VERSION, chain_id, token)


def payment_body(accepted: dict[str, Any], payload: dict[str, Any]) -> bytes:
    """A /verify and /settle body (every family's): `payload`, paying what `accepted` requires."""
    wrapped = {"x402Version": 2, "accepted": accepted, "payload": payload}
    return json.dumps(
        {"x402Version": 2, "paymentPayload": wrapped, "paymentRequirements": accepted}, separators=(",", ":")
    ).encode()


def _signature(payer: Payer, digest: bytes) -> str:
    raw = coincurve.PrivateKey(payer.key).sign_recoverable(digest, hasher=None)
    return "0x" + (raw[:64] + bytes([raw[64] + 27])).hex()


def requirements(pay_to: str, amount: int = PAYMENT_AMOUNT) -> dict[str, Any]:
    return {
        "scheme": "exact",
        "network": NETWORK,
        "asset": USDC_ADDRESS,
        "amount": str(amount),
        "payTo": pay_to,
        "maxTimeoutSeconds": 30,
        "extra": {"name": USDC_NAME, "version": USDC_VERSION},
    }


def sign_payment(
    payer: Payer, pay_to: str, amount: int, valid_before: int, nonce: bytes, domain: bytes
) -> Payment:
    valid_after = 0
    signed = eip3009.Authorization(payer.address, pay_to, amount, valid_after, valid_before, nonce)
    authorization = {
        "from": payer.address,
        "to": pay_to,
        "value": str(amount),
        "validAfter": str(valid_after),
        "validBefore": str(valid_before),
        "nonce": "0x" + nonce.hex(),
    }
    signature = _signature(payer, eip3009.authorization_digest(signed, domain))
    body = payment_body(
        requirements(pay_to, amount), {"signature": signature, "authorization": authorization}
    )
    return Payment(body, payer.address, "0x" + nonce.hex(), pay_to, amount)


def sign_permit2_payment(payer: Payer, pay_to: str, amount: int, deadline: int, nonce: int) -> Payment:
    """A Permit2 `exact` payment of the devnet's plain ERC-20, as the official clients build it."""
    auth = permit2.Permit2Authorization(
        owner=payer.address,
        token=ERC20_ADDRESS,
        amount=amount,
        spender=EXACT_PERMIT2_PROXY_ADDRESS,
        nonce=nonce,
        deadline=deadline,
        to=pay_to,
        valid_after=0,
    )
    accepted = {
        **requirements(pay_to, amount),
        "asset": ERC20_ADDRESS,
        "extra": {"assetTransferMethod": "permit2"},
    }
    authorization = {
        "from": payer.address,
        "permitted": {"token": ERC20_ADDRESS, "amount": str(amount)},
        "spender": EXACT_PERMIT2_PROXY_ADDRESS,
        "nonce": str(nonce),
        "deadline": str(deadline),
        "witness": {"to": pay_to, "validAfter": "0"},
    }
    signature = _signature(payer, permit2.digest(auth, CHAIN_ID))
    body = payment_body(accepted, {"signature": signature, "permit2Authorization": authorization})
    return Payment(body, payer.address, str(nonce), pay_to, amount, ERC20_ADDRESS)


def sign_payments(
    payers: list[Payer],
    count: int,
    pay_to: str,
    valid_for: int = 3 * 3600,
    amount: int = PAYMENT_AMOUNT,
    method: str = "eip3009",
) -> list[Payment]:
    """`count` distinct payments to `pay_to`, cycling through `payers` (neighbours never share a payer);
    `method` permit2: Permit2 payments of the plain ERC-20 instead of EIP-3009 USDC."""
    domain = domain_separator()
    valid_before = int(time.time()) + valid_for
    cycle = itertools.cycle(payers)
    if method == "permit2":
        return [
            sign_permit2_payment(
                next(cycle), pay_to, amount, valid_before, int.from_bytes(os.urandom(32), "big")
            )
            for _ in range(count)
        ]
    return [
        sign_payment(next(cycle), pay_to, amount, valid_before, os.urandom(32), domain) for _ in range(count)
    ]


async def start_devnet(
    data_dir: Path, block_time: int | None, signers: int, port: int, solc_cache: Path
) -> EvmDevnet:
    """A fresh anvil; the contracts are compiled once per run (in `solc_cache`), not once per chain."""
    await load_artifacts(solc_cache)
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(artifacts_path(solc_cache), artifacts_path(data_dir))
    devnet = EvmDevnet(
        host="127.0.0.1", port=port, data_dir=data_dir, block_time=block_time, payers=0, signers=signers
    )
    await devnet.start()
    return devnet


class Chain:
    """Read-side JSON-RPC for cross-checks, and the minting of payers' USDC."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.rpc = DevnetRpc(info["rpcUrl"], timeout=60)

    async def close(self) -> None:
        await self.rpc.close()

    async def fund(
        self, addresses: Iterable[str], amount: int = PAYER_USDC, token: str = USDC_ADDRESS
    ) -> None:
        """Mints `amount` of `token` to each address: signed locally in one nonce run, sent, then awaited."""
        minter = self.info["minter"]
        start, latest, tip = await asyncio.gather(
            self.rpc.call("eth_getTransactionCount", minter["address"], "pending"),
            self.rpc.call("eth_getBlockByNumber", "latest", False),
            self.rpc.call("eth_maxPriorityFeePerGas"),
        )
        fees = {
            "maxPriorityFeePerGas": int(tip, 16),
            "maxFeePerGas": 4 * int(latest["baseFeePerGas"], 16) + int(tip, 16),
        }
        hashes = []
        for nonce, address in enumerate(addresses, int(start, 16)):
            data = calldata("mint(address,uint256)", ["address", "uint256"], [address, amount])
            tx = {
                "type": 2,
                "chainId": CHAIN_ID,
                "nonce": nonce,
                "to": token,
                "value": 0,
                "data": data,
                "gas": 200_000,
                **fees,
            }
            signed = Account.sign_transaction(tx, minter["privateKey"])
            hashes.append(await self.rpc.call("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex()))
        for tx_hash in hashes:
            await self.rpc.wait_receipt(tx_hash, timeout=60)

    async def approve_permit2(self, payers: Iterable[Payer], token: str = ERC20_ADDRESS) -> None:
        """Each payer approves Permit2 for `token` (its first transaction; anvil gives it the gas)."""
        payers = list(payers)
        latest, tip = await asyncio.gather(
            self.rpc.call("eth_getBlockByNumber", "latest", False), self.rpc.call("eth_maxPriorityFeePerGas")
        )
        fees = {
            "maxPriorityFeePerGas": int(tip, 16),
            "maxFeePerGas": 4 * int(latest["baseFeePerGas"], 16) + int(tip, 16),
        }
        data = calldata("approve(address,uint256)", ["address", "uint256"], [PERMIT2_ADDRESS, 2**256 - 1])
        hashes = []
        for payer in payers:
            await self.rpc.call("anvil_setBalance", payer.address, hex(10**18))
            tx = {
                "type": 2,
                "chainId": CHAIN_ID,
                "nonce": 0,
                "to": token,
                "value": 0,
                "data": data,
                "gas": 100_000,
                **fees,
            }
            signed = Account.sign_transaction(tx, payer.key)
            hashes.append(await self.rpc.call("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex()))
        for tx_hash in hashes:
            await self.rpc.wait_receipt(tx_hash, timeout=60)

    async def block_number(self) -> int:
        return int(await self.rpc.call("eth_blockNumber"), 16)

    async def balance_of(self, address: str, token: str = USDC_ADDRESS) -> int:
        data = calldata("balanceOf(address)", ["address"], [address])
        return int.from_bytes(await self.rpc.eth_call(token, data), "big")

    async def transfers_to(self, pay_to: str, from_block: int, token: str = USDC_ADDRESS) -> list[str]:
        """Transaction hashes of every `token` Transfer to `pay_to` since `from_block`."""
        logs = await self.rpc.call(
            "eth_getLogs",
            {
                "address": token,
                "fromBlock": hex(from_block),
                "toBlock": "latest",
                "topics": [TRANSFER_TOPIC, None, "0x" + "00" * 12 + pay_to[2:].lower()],
            },
        )
        return [log["transactionHash"] for log in logs]

    async def nonces(self, addresses: Iterable[str]) -> dict[str, int]:
        addresses = list(addresses)
        counts = await asyncio.gather(
            *(self.rpc.call("eth_getTransactionCount", a, "latest") for a in addresses)
        )
        return {a: int(c, 16) for a, c in zip(addresses, counts, strict=True)}

    async def wait_idle(self, timeout: float = 15.0) -> None:
        """Until the node's pool holds no pending transaction (1 s blocks: the last ones are mined)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = await self.rpc.call("txpool_status")
            if int(status["pending"], 16) == 0 and int(status["queued"], 16) == 0:
                return
            await asyncio.sleep(0.2)

    async def wait_quiet(self, senders: Iterable[str], quiet: float = 2.0, timeout: float = 60.0) -> None:
        """Until the pool is empty and the senders' nonces have not moved for `quiet` seconds."""
        senders = list(senders)
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            status = await self.rpc.call("txpool_status")
            nonces = await self.nonces(senders)
            if nonces != last or int(status["pending"], 16) or int(status["queued"], 16):
                last, since = nonces, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            await asyncio.sleep(0.25)

    async def sent_transactions(self, senders: Iterable[str], from_block: int) -> list[dict[str, Any]]:
        """Receipts of every transaction the `senders` got mined since `from_block` (status, gas, fee)."""
        wanted = {s.lower() for s in senders}
        last = await self.block_number()
        found = []
        for number in range(from_block, last + 1):
            receipts = await self.rpc.call("eth_getBlockReceipts", hex(number)) or []
            found += [r for r in receipts if r["from"].lower() in wanted]
        return found


class AutomineNudge:
    """Mines a block when ready transactions linger in anvil's pool under automine.

    anvil's automine can leave ready transactions unmined when one sender's nonces arrive out of
    order (foundry-rs/foundry#10122; anvil's own remedy is --mixed-mining, which the devnet does not
    expose). Every facilitator that sends concurrently hits it, so all targets get the same nudge: a
    pool seen holding pending transactions twice in a row, `interval` apart, gets one `evm_mine`.
    """

    def __init__(self, rpc_url: str, interval: float = 0.25) -> None:
        self.rpc_url = rpc_url
        self.interval = interval
        self.nudges = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _watch(self) -> None:
        async with DevnetRpc(self.rpc_url, timeout=10) as rpc:
            seen_pending = False
            while True:
                await asyncio.sleep(self.interval)
                try:
                    pending = int((await rpc.call("txpool_status"))["pending"], 16) > 0
                    if pending and seen_pending:
                        await rpc.call("evm_mine")
                        self.nudges += 1
                        pending = False
                    seen_pending = pending
                except (NodeUnavailable, TimeoutError):
                    seen_pending = False


def gas_summary(receipts: list[dict[str, Any]]) -> dict[str, int]:
    reverted = [r for r in receipts if r["status"] != "0x1"]
    return {
        "transactions": len(receipts),
        "reverted": len(reverted),
        "gas_burnt_on_reverts": sum(int(r["gasUsed"], 16) for r in reverted),
        "wei_burnt_on_reverts": sum(
            int(r["gasUsed"], 16) * int(r["effectiveGasPrice"], 16) for r in reverted
        ),
    }
