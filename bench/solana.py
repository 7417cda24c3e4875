"""Solana side of the benchmark: the LiteSVM devnet as its own process, pre-signed USDC payments, checks.

Payments have the x402 `exact` layout official clients build (compute limit, compute price,
TransferChecked, Memo; the fee-payer slot left for the facilitator). A transaction carries a recent
blockhash (valid ~60 s on the devnet), so each workload's payments are signed just before it runs,
never while it is timed.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from bench import targets
from bench.evm import Payment, payment_body
from bench.targets import DevnetProcess
from x402fac.devnet.solana import NETWORK, USDC_DECIMALS, USDC_MINT, faucet_transaction
from x402fac.devnet.solana.instructions import ata, memo, transfer_checked
from x402fac.rpc import JsonRpcClient
from x402fac.solana import COMPUTE_BUDGET_PROGRAM as COMPUTE_BUDGET

PAYMENT_UNITS = 1_000  # 0.001 USDC


@dataclass
class SolanaChain(DevnetProcess):
    rpc: JsonRpcClient

    async def call(self, method: str, *params: Any) -> Any:
        return await self.rpc.call(method, *params)

    async def blockhash(self) -> Hash:
        latest = await self.call("getLatestBlockhash", {"commitment": "confirmed"})
        return Hash.from_string(latest["value"]["blockhash"])

    async def open_token_account(self, owner: Pubkey) -> None:
        """The seller's USDC account must exist (as x402 requires); created by the devnet's mint authority."""
        authority = Keypair.from_base58_string(self.info["mint_authority"]["secret"])
        tx = faucet_transaction(authority, owner, 0, 0, await self.blockhash())
        signature = await self.call(
            "sendTransaction", base64.b64encode(bytes(tx)).decode(), {"encoding": "base64"}
        )
        await self.wait_landed([signature])

    async def wait_landed(self, signatures: list[str], timeout: float = 30.0) -> dict[str, Any]:
        """Statuses of `signatures` once each is confirmed (or the time is up)."""
        deadline = time.monotonic() + timeout
        statuses: dict[str, Any] = {}
        pending = list(signatures)
        while pending and time.monotonic() < deadline:
            for start in range(0, len(pending), 256):
                chunk = pending[start : start + 256]
                values = (await self.call("getSignatureStatuses", chunk))["value"]
                for signature, status in zip(chunk, values, strict=True):
                    if status and status["confirmationStatus"] in ("confirmed", "finalized"):
                        statuses[signature] = status
            pending = [s for s in pending if s not in statuses]
            if pending:
                await asyncio.sleep(0.2)
        return statuses

    async def usdc_balance(self, owner: Pubkey) -> int:
        answer = await self.call("getTokenAccountBalance", str(ata(owner, USDC_MINT)))
        return int(answer["value"]["amount"])

    async def close(self) -> None:
        await self.rpc.close()
        await super().close()


async def start_devnet(data_dir: Path, port: int, payers: int) -> SolanaChain:
    proc, info = await targets.start_devnet("solana", data_dir, port, payers, timeout=300)
    return SolanaChain(proc, info, JsonRpcClient([info["rpc_url"]], timeout=60))


def requirements(pay_to: str, fee_payer: str, amount: int = PAYMENT_UNITS) -> dict[str, Any]:
    return {
        "scheme": "exact",
        "network": NETWORK,
        "asset": str(USDC_MINT),
        "amount": str(amount),
        "payTo": pay_to,
        "maxTimeoutSeconds": 30,
        "extra": {"feePayer": fee_payer},
    }


def _compute(kind: int, value: int, size: int) -> Instruction:
    return Instruction(COMPUTE_BUDGET, bytes([kind]) + value.to_bytes(size, "little"), [])


def sign_payments(
    info: dict[str, Any], payers: list[Keypair], count: int, pay_to: Pubkey, blockhash: Hash
) -> list[Payment]:
    """`count` payments cycling through `payers`, each with its own memo (so each is distinct)."""
    fee_payer = Pubkey.from_string(info["fee_payers"][0]["address"])
    accepted = requirements(str(pay_to), str(fee_payer))
    destination = ata(pay_to, USDC_MINT)
    payments = []
    for index in range(count):
        payer = payers[index % len(payers)]
        owner = payer.pubkey()
        instructions = [
            _compute(2, 20_000, 4),  # SetComputeUnitLimit
            _compute(3, 1, 8),  # SetComputeUnitPrice (micro-lamports)
            transfer_checked(
                ata(owner, USDC_MINT), USDC_MINT, destination, owner, PAYMENT_UNITS, USDC_DECIMALS
            ),
            memo(os.urandom(16).hex().encode()),
        ]
        message = MessageV0.try_compile(fee_payer, instructions, [], blockhash)
        signed = bytes([0x80]) + bytes(message)
        signatures = [
            payer.sign_message(signed) if key == owner else Signature.default()
            for key in message.account_keys[: message.header.num_required_signatures]
        ]
        tx = VersionedTransaction.populate(message, signatures)
        body = payment_body(accepted, {"transaction": base64.b64encode(bytes(tx)).decode()})
        payments.append(Payment(body, str(owner), str(signatures[1]), str(pay_to), PAYMENT_UNITS))
    return payments


def payers_of(info: dict[str, Any]) -> list[Keypair]:
    return [Keypair.from_base58_string(p["secret"]) for p in info["payers"]]
