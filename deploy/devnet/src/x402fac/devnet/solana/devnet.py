"""The Solana devnet assembled: chain + RPC server + keys, a USDC mint and funded accounts."""

import asyncio
import base64
import json
import os
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from solders.account import Account
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.token.state import Mint
from solders.transaction import VersionedTransaction

from x402fac.rpc import JsonRpcClient

from .chain import Chain, TransactionError
from .codec import TOKEN_PROGRAM, b58encode
from .instructions import TOKEN, ata, create_ata_idempotent, memo, mint_to_checked
from .rpc import DEVNET_GENESIS_HASH, SolanaRpc

NETWORK = f"solana:{DEVNET_GENESIS_HASH[:32]}"
USDC_MINT = Pubkey.from_string("4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU")
USDC_DECIMALS = 6
INFO_FILE = "devnet-solana.json"
LAMPORTS_PER_SOL = 1_000_000_000
FAUCET_LAMPORTS = LAMPORTS_PER_SOL  # SOL sent along with faucet USDC
CONFIRM_TIMEOUT = 30.0


def faucet_transaction(
    authority: Keypair, owner: Pubkey, amount: int, lamports: int, blockhash: Hash
) -> VersionedTransaction:
    """Create `owner`'s USDC account if needed, mint `amount` to it and send it `lamports`."""
    funder = authority.pubkey()
    instructions = [create_ata_idempotent(funder, owner, USDC_MINT)]
    if amount:
        instructions.append(mint_to_checked(USDC_MINT, ata(owner, USDC_MINT), funder, amount, USDC_DECIMALS))
    if lamports:
        instructions.append(transfer(TransferParams(from_pubkey=funder, to_pubkey=owner, lamports=lamports)))
    instructions.append(memo(f"faucet {os.urandom(8).hex()}".encode()))  # same request twice, two txs
    message = MessageV0.try_compile(funder, instructions, [], blockhash)
    return VersionedTransaction(message, [authority])


def _key_entry(keypair: Keypair) -> dict[str, str]:
    return {"address": str(keypair.pubkey()), "secret": b58encode(bytes(keypair))}


class SolanaDevnet:
    """One devnet: `start()` serves its RPC and advances slots until `stop()`."""

    def __init__(
        self,
        *,
        payers: int = 3,
        fee_payers: int = 1,
        payer_usdc: int = 1_000 * 10**USDC_DECIMALS,
        payer_lamports: int = LAMPORTS_PER_SOL,
        fee_payer_lamports: int = 100 * LAMPORTS_PER_SOL,
        slot_interval: float = 0.4,
        confirm_delay: float = 0.8,
        finalize_delay: float = 12.8,
    ) -> None:
        self.chain = Chain(confirm_delay=confirm_delay, finalize_delay=finalize_delay)
        self.rpc = SolanaRpc(self.chain)
        self.slot_interval = slot_interval
        self.mint_authority = Keypair()
        self.fee_payers = [Keypair() for _ in range(fee_payers)]
        self.payers = [Keypair() for _ in range(payers)]
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task | None = None

        mint = Mint(self.mint_authority.pubkey(), 0, USDC_DECIMALS, True, None)
        rent = self.chain.svm.minimum_balance_for_rent_exemption(len(bytes(mint)))
        self.chain.set_account(USDC_MINT, Account(rent, bytes(mint), TOKEN, False, 0))
        self._set_lamports(self.mint_authority.pubkey(), 1_000_000 * LAMPORTS_PER_SOL)
        for keypair in self.fee_payers:
            self._set_lamports(keypair.pubkey(), fee_payer_lamports)
        for keypair in self.payers:
            self.fund(keypair.pubkey(), payer_usdc, payer_lamports)

    def _set_lamports(self, key: Pubkey, lamports: int) -> None:
        self.chain.set_account(key, Account(lamports, b"", Pubkey.default(), False, 0))

    def fund(self, owner: Pubkey, usdc: int = 0, lamports: int = 0) -> str:
        """In-process faucet: a real mint transaction, landed at once; returns its signature."""
        tx = faucet_transaction(self.mint_authority, owner, usdc, lamports, self.chain.latest_blockhash)
        landed = self.chain.process(tx, bytes(tx))
        if landed.execution.err is not None:
            raise TransactionError(landed.execution.err)
        return landed.signature

    def new_payer(self, usdc: int = 100 * 10**USDC_DECIMALS, lamports: int = 0) -> Keypair:
        keypair = Keypair()
        self.fund(keypair.pubkey(), usdc, lamports)
        return keypair

    def usdc_balance(self, owner: Pubkey) -> int:
        account = self.chain.account(ata(owner, USDC_MINT))
        return 0 if account is None else int.from_bytes(bytes(account.data)[64:72], "little")

    def info(self) -> dict[str, Any]:
        return {
            "family": "solana",
            "network": NETWORK,
            "rpc_url": self.url,
            "genesis_hash": DEVNET_GENESIS_HASH,
            "usdc": {"mint": str(USDC_MINT), "decimals": USDC_DECIMALS, "token_program": TOKEN_PROGRAM},
            "mint_authority": _key_entry(self.mint_authority),
            "fee_payers": [_key_entry(k) for k in self.fee_payers],
            "payers": [_key_entry(k) for k in self.payers],
        }

    def write_info(self, data_dir: str | Path) -> Path:
        path = Path(data_dir) / INFO_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.info(), indent=2))
        tmp.chmod(0o600)
        tmp.replace(path)
        return path

    async def start(self, host: str = "127.0.0.1", port: int = 8899) -> str:
        self._runner = web.AppRunner(self.rpc.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.url = f"http://{host}:{bound_port}"
        self._ticker = asyncio.create_task(self._tick())
        return self.url

    async def _tick(self) -> None:
        next_at = time.monotonic()
        while True:
            next_at += self.slot_interval
            await asyncio.sleep(max(next_at - time.monotonic(), 0))
            self.chain.advance()

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()


async def faucet(info: dict[str, Any], address: str, amount: int, lamports: int = FAUCET_LAMPORTS) -> str:
    """Send `amount` test USDC (6-decimal units) and some SOL to `address`; returns the signature.

    Creates the USDC account if needed and waits until the transaction is confirmed.
    """
    url = info["rpc_url"]
    authority = Keypair.from_base58_string(info["mint_authority"]["secret"])
    owner = Pubkey.from_string(address)
    rpc = JsonRpcClient([url], timeout=30.0)
    try:
        latest = await rpc.call("getLatestBlockhash", {"commitment": "confirmed"})
        blockhash = Hash.from_string(latest["value"]["blockhash"])
        tx = faucet_transaction(authority, owner, amount, lamports, blockhash)
        wire = bytes(tx)
        signature = await rpc.call("sendTransaction", base64.b64encode(wire).decode(), {"encoding": "base64"})
        deadline = time.monotonic() + CONFIRM_TIMEOUT
        while time.monotonic() < deadline:
            statuses = await rpc.call("getSignatureStatuses", [signature])
            status = statuses["value"][0]
            if status is not None and status["err"] is not None:
                raise RuntimeError(f"faucet transaction {signature} failed: {status['err']}")
            if status is not None and status["confirmationStatus"] in ("confirmed", "finalized"):
                return signature
            await asyncio.sleep(0.1)
    finally:
        await rpc.close()
    raise TimeoutError(f"faucet transaction {signature} not confirmed in {CONFIRM_TIMEOUT:.0f}s")
