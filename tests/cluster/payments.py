"""Signed payments for the cluster tests, one family each, and the chain read back afterwards.

Every payment is distinct and valid; what the chain holds for it is looked up afterwards:
EVM and Nano pay a fresh address each (so the transfers to that address are the payment's
transfers), Solana pays one of a few sellers (their USDC balance is the sum of what settled).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from bench import evm as bench_evm
from bench import nano as bench_nano
from bench import solana as bench_solana
from tests.fixtures.evm_wallets import counterfactual_wallet, wrapped_request
from tests.fixtures.upto import upto_body, upto_payer
from x402fac.devnet.evm import ERC20_ADDRESS, PERMIT2_ADDRESS, USDC_ADDRESS
from x402fac.devnet.solana import USDC_MINT, faucet_transaction
from x402fac.devnet.solana.instructions import ata
from x402fac.nano.node import NanoNode
from x402fac.rpc import FailoverHttp, JsonRpcClient
from x402fac.worker_solana.transaction import message_hash


@dataclass
class Pay:
    """One payment: its body, the ledger's id for it, and where its money goes."""

    family: str
    body: bytes
    payment_id: str
    payer: str
    pay_to: str
    amount: int
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return json.loads(self.body)


class EvmPayments:
    family = "evm"

    def __init__(self, info: dict[str, Any], payers: int = 300) -> None:
        self.info = info
        self.chain = bench_evm.Chain(info)
        self.payers = [bench_evm.Payer.create() for _ in range(payers)]
        self._cycle = itertools.cycle(self.payers)
        # Never in the cycle: a test may exhaust its settle limit without the load meeting it later.
        self.reserved = bench_evm.Payer.create()
        self._domain = bench_evm.domain_separator()
        self.start_block = 0
        self.permit2_payer = bench_evm.Payer.create()  # holds the plain ERC-20, approved Permit2

    async def setup(self) -> None:
        await self.chain.fund(p.address for p in [*self.payers, self.reserved])
        await self.chain.fund([self.permit2_payer.address], token=ERC20_ADDRESS)
        await self.chain.approve_permit2([self.permit2_payer])
        self.start_block = await self.chain.block_number()

    async def make_permit2(self) -> Pay:
        """A Permit2 payment of the devnet's plain ERC-20, as the official clients build it."""
        pay_to = bench_evm.new_address()
        nonce = int.from_bytes(os.urandom(32), "big")
        payer = self.permit2_payer
        signed = bench_evm.sign_permit2_payment(
            payer, pay_to, bench_evm.PAYMENT_AMOUNT, int(time.time()) + 3600, nonce
        )
        chain_id = self.info.get("chainId") or bench_evm.CHAIN_ID
        payment_id = f"{chain_id}/{PERMIT2_ADDRESS.lower()}/{payer.address.lower()}/0x{nonce:064x}"
        return Pay("evm", signed.body, payment_id, payer.address, pay_to, bench_evm.PAYMENT_AMOUNT)

    async def make_upto(self, maximum: int, charged: int) -> Pay:
        """An `upto` authorization of `maximum` USDC (the official SDK client's), settled for `charged`;
        `extra` holds the maximum."""
        pay_to = bench_evm.new_address()
        payer = await upto_payer(self.info)
        body = upto_body(self.info, payer, pay_to, maximum, charged)
        nonce = int(body["paymentPayload"]["payload"]["permit2Authorization"]["nonce"])
        chain_id = self.info.get("chainId") or bench_evm.CHAIN_ID
        payment_id = f"{chain_id}/{PERMIT2_ADDRESS.lower()}/{payer.address.lower()}/0x{nonce:064x}"
        encoded = json.dumps(body).encode()
        return Pay("evm", encoded, payment_id, payer.address, pay_to, charged, {"maximum": maximum})

    async def make_erc6492(self) -> Pay:
        """An EIP-3009 payment from a counterfactual wallet (not deployed), its signature wrapped for
        ERC-6492; `extra` holds the wallet."""
        pay_to = bench_evm.new_address()
        wallet = await counterfactual_wallet(self.info, 10 * bench_evm.PAYMENT_AMOUNT)
        request = wrapped_request(self.info, wallet, pay_to, bench_evm.PAYMENT_AMOUNT)
        nonce = request.payment_payload.payload["authorization"]["nonce"]
        chain_id = self.info.get("chainId") or bench_evm.CHAIN_ID
        payment_id = f"{chain_id}/{USDC_ADDRESS.lower()}/{wallet.address.lower()}/{nonce}"
        body = msgspec.json.encode(request)
        return Pay(
            "evm", body, payment_id, wallet.address, pay_to, bench_evm.PAYMENT_AMOUNT, {"wallet": wallet}
        )

    async def make(self, payer: bench_evm.Payer | None = None, pay_to: str | None = None) -> Pay:
        payer = payer or next(self._cycle)
        pay_to = pay_to or bench_evm.new_address()
        nonce = os.urandom(32)
        signed = bench_evm.sign_payment(
            payer, pay_to, bench_evm.PAYMENT_AMOUNT, int(time.time()) + 3600, nonce, self._domain
        )
        chain_id = self.info.get("chainId") or bench_evm.CHAIN_ID
        payment_id = f"{chain_id}/{USDC_ADDRESS.lower()}/{payer.address.lower()}/0x{nonce.hex()}"
        return Pay("evm", signed.body, payment_id, payer.address, pay_to, bench_evm.PAYMENT_AMOUNT)

    async def transfers(self, pays: list[Pay]) -> dict[str, list[str]]:
        """Payment id -> transaction hashes of USDC (or Permit2-paid ERC-20) transfers to its address."""
        logs = await self.chain.rpc.call(
            "eth_getLogs",
            {
                "address": [USDC_ADDRESS, ERC20_ADDRESS],
                "fromBlock": hex(self.start_block),
                "toBlock": "latest",
                "topics": [bench_evm.TRANSFER_TOPIC],
            },
        )
        by_to: dict[str, list[str]] = {}
        for log in logs:
            by_to.setdefault("0x" + log["topics"][2][-40:], []).append(log["transactionHash"])
        return {p.payment_id: by_to.get(p.pay_to.lower(), []) for p in pays}

    async def close(self) -> None:
        await self.chain.close()


class NanoPayments:
    """One devnet payer per payment: a payer can send once from a given frontier."""

    family = "nano"

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.node = NanoNode(FailoverHttp([info["rpcUrl"]], timeout=30))
        self._ready: list[bench_nano.PayerState] = []

    async def setup(self) -> None:
        self._ready = await bench_nano.payer_states(self.node, self.info, self.info["payers"])

    @property
    def left(self) -> int:
        return len(self._ready)

    async def make(self) -> Pay:
        if not self._ready:
            raise RuntimeError("no unused nano payer left: start the devnet with more --payers")
        pay_to = bench_nano.new_address()
        [payment] = bench_nano.sign_payments(self.info, [self._ready.pop()], 1, pay_to, distinct_payers=True)
        return Pay("nano", payment.body, payment.nonce, payment.payer, pay_to, payment.amount)

    async def transfers(self, pays: list[Pay]) -> dict[str, list[str]]:
        """Payment id -> confirmed send blocks to its address (a block is its own payment id)."""
        found: dict[str, list[str]] = {}
        for start in range(0, len(pays), 100):
            chunk = pays[start : start + 100]
            blocks = await self.node.blocks_info([p.payment_id for p in chunk])
            for pay in chunk:
                receivable = await self.node.receivable(pay.pay_to)
                confirmed = blocks.get(pay.payment_id, {}).get("confirmed") == "true"
                found[pay.payment_id] = [h for h in receivable if h.upper() == pay.payment_id and confirmed]
                found[pay.payment_id] += [h for h in receivable if h.upper() != pay.payment_id]
        return found

    async def close(self) -> None:
        await self.node.close()


class SolanaPayments:
    """Payers cycle (the payer limit allows it at this pace); a few sellers with USDC accounts."""

    family = "solana"

    def __init__(self, info: dict[str, Any], sellers: int = 4) -> None:
        self.info = info
        self.rpc = JsonRpcClient([info["rpc_url"]], timeout=30)
        self.payers = bench_solana.payers_of(info)
        self._cycle = itertools.cycle(self.payers)
        self.sellers = [Keypair() for _ in range(sellers)]
        self._seller_cycle = itertools.cycle(self.sellers)
        self._blockhash: tuple[float, Hash] | None = None
        self.fee_payer = Pubkey.from_string(info["fee_payers"][0]["address"])

    async def setup(self, sellers: int = 4) -> None:
        """Fresh sellers (each test pays its own, so their balances are its payments' sum)."""
        self.sellers = [Keypair() for _ in range(sellers)]
        self._seller_cycle = itertools.cycle(self.sellers)
        authority = Keypair.from_base58_string(self.info["mint_authority"]["secret"])
        signatures = []
        for seller in self.sellers:
            tx = faucet_transaction(authority, seller.pubkey(), 0, 0, await self._fresh_blockhash())
            signatures.append(await self._send(tx))
        await self.wait_landed(signatures)

    async def _send(self, tx: VersionedTransaction) -> str:
        import base64

        return await self.rpc.call(
            "sendTransaction", base64.b64encode(bytes(tx)).decode(), {"encoding": "base64"}
        )

    async def _fresh_blockhash(self) -> Hash:
        latest = await self.rpc.call("getLatestBlockhash", {"commitment": "confirmed"})
        return Hash.from_string(latest["value"]["blockhash"])

    async def blockhash(self) -> Hash:
        """A recent blockhash, fetched again every few seconds (the devnet keeps ~60 s of them)."""
        if self._blockhash is None or time.monotonic() - self._blockhash[0] > 5:
            self._blockhash = (time.monotonic(), await self._fresh_blockhash())
        return self._blockhash[1]

    async def make(self, payer: Keypair | None = None) -> Pay:
        payer = payer or next(self._cycle)
        seller = next(self._seller_cycle)
        signed = bench_solana.sign_payments(self.info, [payer], 1, seller.pubkey(), await self.blockhash())[0]
        body = json.loads(signed.body)
        tx = VersionedTransaction.from_bytes(
            __import__("base64").b64decode(body["paymentPayload"]["payload"]["transaction"])
        )
        message = tx.message
        assert isinstance(message, MessageV0)
        return Pay(
            "solana",
            signed.body,
            message_hash(message),
            str(payer.pubkey()),
            str(seller.pubkey()),
            signed.amount,
        )

    async def balances(self, sellers: set[str]) -> dict[str, int]:
        found = {}
        for seller in sellers:
            answer = await self.rpc.call(
                "getTokenAccountBalance", str(ata(Pubkey.from_string(seller), USDC_MINT))
            )
            found[seller] = int(answer["value"]["amount"])
        return found

    async def statuses(self, signatures: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for start in range(0, len(signatures), 200):
            chunk = signatures[start : start + 200]
            values = (await self.rpc.call("getSignatureStatuses", chunk))["value"]
            found.update(zip(chunk, values, strict=True))
        return found

    async def wait_landed(self, signatures: list[str], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            statuses = await self.statuses(signatures)
            if all(s and s["confirmationStatus"] in ("confirmed", "finalized") for s in statuses.values()):
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"not landed: {signatures}")

    async def close(self) -> None:
        await self.rpc.close()
