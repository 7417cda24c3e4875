"""The devnet's ledger: accounts, blocks and receivables in dicts, validated the way nano_node's ledger does.

The checks and their order follow nano_node's `ledger_processor::state_block_impl` (old, signature, burn
account, fork/gap on previous, receivable source and amount, work for the block's kind) and the error strings
are the node's `error_process` / `error_blocks` / `error_rpc` messages, so a client sees what a real node says.
Confirmation is a separate step (`confirm`), driven by the server's timer: it cements a block, everything
below it on its account chain, and (first) the send a receive depends on, like the node's confirmation height.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from x402fac.nano import StateBlock
from x402fac.nano.blocks import ZERO_HASH

# nano_node error strings (nano/lib/errors.cpp).
OLD_BLOCK = "Old block"
BAD_SIGNATURE = "Bad signature"
BURNING_ACCOUNT = "Burning account"
FORK = "Fork"
GAP_PREVIOUS = "Gap previous block"
GAP_SOURCE = "Gap source block"
UNRECEIVABLE = "Unreceivable"
BALANCE_MISMATCH = "Balance and amount delta do not match"
INSUFFICIENT_WORK = "Block work is insufficient"
WORK_LOW = "Block work is less than threshold"
INVALID_SUBTYPE = "Invalid block subtype"
INVALID_SUBTYPE_BALANCE = "Invalid block balance for given subtype"
INVALID_SUBTYPE_PREVIOUS = "Invalid previous block for given subtype"
INVALID_EPOCH_LINK = "Invalid epoch link"


class ProcessError(Exception):
    """The ledger refused a block; the message is the node's."""


@dataclass(slots=True)
class BlockEntry:
    block: StateBlock
    hash: bytes
    height: int
    timestamp: int
    subtype: str  # send | receive | open | change
    amount: int
    successor: bytes = ZERO_HASH
    confirmed: bool = False


@dataclass(slots=True)
class AccountEntry:
    head: bytes
    open_block: bytes
    representative: bytes
    balance: int
    block_count: int
    modified: int
    confirmed_height: int = 0
    confirmed_frontier: bytes = ZERO_HASH


@dataclass(frozen=True, slots=True)
class Receivable:
    source: bytes  # the sending account
    amount: int


@dataclass
class Ledger:
    send_threshold: int
    receive_threshold: int
    blocks: dict[bytes, BlockEntry] = field(default_factory=dict)
    accounts: dict[bytes, AccountEntry] = field(default_factory=dict)
    receivable: dict[bytes, dict[bytes, Receivable]] = field(default_factory=dict)  # destination -> send hash
    received_by: dict[bytes, bytes] = field(default_factory=dict)  # send hash -> receive hash
    cemented: int = 0

    @property
    def entry_threshold(self) -> int:
        """The lowest threshold of any block kind: below it the node refuses a block before the ledger sees it."""
        return min(self.send_threshold, self.receive_threshold)

    def insert_genesis(self, block: StateBlock) -> BlockEntry:
        """The first block of the ledger, holding the whole supply; confirmed from the start."""
        if self.blocks:
            raise RuntimeError("genesis must be the first block")
        block_hash = block.hash
        now = int(time.time())
        entry = BlockEntry(block, block_hash, 1, now, "open", block.balance, confirmed=True)
        self.blocks[block_hash] = entry
        self.accounts[block.account] = AccountEntry(
            block_hash, block_hash, block.representative, block.balance, 1, now, 1, block_hash
        )
        self.cemented = 1
        return entry

    def check_subtype(self, block: StateBlock, subtype: str) -> None:
        """The RPC `process` pre-check when the caller names a subtype (json_handler::process)."""
        if block.previous != ZERO_HASH and block.previous not in self.blocks:
            raise ProcessError(GAP_PREVIOUS)
        account = self.accounts.get(block.account)
        balance = account.balance if account else 0
        if subtype == "send":
            if balance <= block.balance:
                raise ProcessError(INVALID_SUBTYPE_BALANCE)
        elif subtype == "receive":
            if balance > block.balance:
                raise ProcessError(INVALID_SUBTYPE_BALANCE)
        elif subtype == "open":
            if block.previous != ZERO_HASH:
                raise ProcessError(INVALID_SUBTYPE_PREVIOUS)
        elif subtype == "change":
            if balance != block.balance:
                raise ProcessError(INVALID_SUBTYPE_BALANCE)
            if block.previous == ZERO_HASH:
                raise ProcessError(INVALID_SUBTYPE_PREVIOUS)
        elif subtype == "epoch":
            if balance != block.balance:
                raise ProcessError(INVALID_SUBTYPE_BALANCE)
            raise ProcessError(INVALID_EPOCH_LINK)  # this devnet has no epoch signers
        else:
            raise ProcessError(INVALID_SUBTYPE)

    def process(self, block: StateBlock) -> BlockEntry:
        """Adds a block to the ledger (unconfirmed) or raises ProcessError with the node's message."""
        block_hash = block.hash
        if block_hash in self.blocks:
            raise ProcessError(OLD_BLOCK)
        if not block.signature_valid():
            raise ProcessError(BAD_SIGNATURE)
        if block.account == ZERO_HASH:
            raise ProcessError(BURNING_ACCOUNT)
        account = self.accounts.get(block.account)
        is_send = False
        if account is not None:
            if block.previous == ZERO_HASH:
                raise ProcessError(FORK)
            if block.previous not in self.blocks:
                raise ProcessError(GAP_PREVIOUS)
            is_send = block.balance < account.balance
            amount = account.balance - block.balance if is_send else block.balance - account.balance
            if block.previous != account.head:
                raise ProcessError(FORK)
        else:
            if block.previous != ZERO_HASH:
                raise ProcessError(GAP_PREVIOUS)
            if block.link == ZERO_HASH:
                raise ProcessError(GAP_SOURCE)
            amount = block.balance
        if not is_send:
            if block.link != ZERO_HASH:
                if block.link not in self.blocks:
                    raise ProcessError(GAP_SOURCE)
                pending = self.receivable.get(block.account, {}).get(block.link)
                if pending is None:
                    raise ProcessError(UNRECEIVABLE)
                if amount != pending.amount:
                    raise ProcessError(BALANCE_MISMATCH)
            elif amount != 0:
                raise ProcessError(BALANCE_MISMATCH)
        threshold = self.send_threshold if is_send else self.receive_threshold
        if not block.work_valid(threshold):
            raise ProcessError(INSUFFICIENT_WORK)
        return self._apply(block, block_hash, account, is_send, amount)

    def _apply(
        self, block: StateBlock, block_hash: bytes, account: AccountEntry | None, is_send: bool, amount: int
    ) -> BlockEntry:
        now = int(time.time())
        if is_send:
            subtype = "send"
        elif block.link == ZERO_HASH:
            subtype = "change"
        else:
            subtype = "open" if account is None else "receive"
        height = (account.block_count if account else 0) + 1
        entry = BlockEntry(block, block_hash, height, now, subtype, amount)
        self.blocks[block_hash] = entry
        if account is None:
            self.accounts[block.account] = AccountEntry(
                block_hash, block_hash, block.representative, block.balance, 1, now
            )
        else:
            self.blocks[account.head].successor = block_hash
            account.head = block_hash
            account.representative = block.representative
            account.balance = block.balance
            account.block_count = height
            account.modified = now
        if is_send:
            self.receivable.setdefault(block.link, {})[block_hash] = Receivable(block.account, amount)
        elif subtype in ("open", "receive"):
            destination = self.receivable[block.account]
            del destination[block.link]
            if not destination:
                del self.receivable[block.account]
            self.received_by[block.link] = block_hash
        return entry

    def confirm(self, block_hash: bytes) -> list[bytes]:
        """Cements `block_hash`, its unconfirmed predecessors, and the sends its receives depend on.

        Returns the hashes newly confirmed, in cementing order.
        """
        entry = self.blocks.get(block_hash)
        if entry is None or entry.confirmed:
            return []
        account = self.accounts[entry.block.account]
        chain: list[BlockEntry] = []
        cursor: BlockEntry | None = entry
        while cursor is not None and not cursor.confirmed:
            chain.append(cursor)
            cursor = self.blocks.get(cursor.block.previous)
        confirmed: list[bytes] = []
        for pending in reversed(chain):
            if pending.subtype in ("open", "receive"):
                confirmed += self.confirm(pending.block.link)
            pending.confirmed = True
            confirmed.append(pending.hash)
        self.cemented += len(chain)
        if entry.height > account.confirmed_height:
            account.confirmed_height = entry.height
            account.confirmed_frontier = block_hash
        return confirmed

    def balance(self, account: bytes, confirmed_only: bool) -> int:
        entry = self.accounts.get(account)
        if entry is None:
            return 0
        if not confirmed_only or entry.confirmed_height == entry.block_count:
            return entry.balance
        if entry.confirmed_height == 0:
            return 0
        return self.blocks[entry.confirmed_frontier].block.balance

    def receivable_of(self, account: bytes, confirmed_only: bool) -> list[tuple[bytes, Receivable]]:
        """(send hash, receivable) pairs for `account`, optionally only those whose send is confirmed."""
        pending = self.receivable.get(account, {})
        return [
            (send_hash, info)
            for send_hash, info in pending.items()
            if not confirmed_only or self.blocks[send_hash].confirmed
        ]
