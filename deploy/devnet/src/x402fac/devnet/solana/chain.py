"""LiteSVM run as a cluster: slots, a window of recent blockhashes, fees, statuses and history.

LiteSVM executes transactions with the real SPL programs and checks signatures, but it has no slots,
accepts only its single latest blockhash and charges no priority fee. This class adds what a cluster
does around execution: a slot per tick, each with a fresh blockhash valid for 150 slots, the
priority fee, transactions that land (success or on-chain failure, fee paid) versus ones that are
dropped, commitment levels that advance with time, and the history the RPC reports.
"""

import json
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.hash import Hash
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from x402fac.solana import (
    ADDRESS_LOOKUP_TABLE_PROGRAM,
    LAMPORTS_PER_SIGNATURE,
    LOOKUP_TABLE_META_SIZE,
    fee_lamports,
)

from .codec import (
    TOKEN_PROGRAMS,
    b58encode,
    b64,
    mint_decimals,
    token_account_fields,
    token_account_kind,
    ui_token_amount,
)
from .instructions import memo

MAX_PROCESSING_AGE = 150  # slots a blockhash stays valid, as on a real cluster
KEPT_BLOCKHASHES = 2 * MAX_PROCESSING_AGE  # remembered a while longer, to answer "expired"
SLOT_HASHES_LEN = 512
HISTORY_LIMIT = 200_000
BANK_LAMPORTS = 10**18


class TransactionError(Exception):
    """The cluster refuses a transaction before running it; `err` is the RPC's TransactionError JSON."""

    def __init__(self, err: Any) -> None:
        super().__init__(str(err))
        self.err = err


@dataclass(slots=True)
class Execution:
    """What running (or simulating) a transaction produced, in the RPC's JSON forms."""

    err: Any
    logs: list[str]
    units: int
    inner_instructions: list[dict[str, Any]]
    return_data: dict[str, Any] | None
    fee: int
    post_accounts: dict[Pubkey, Account] = field(default_factory=dict)

    @classmethod
    def of(
        cls, err: Any, meta: Any, fee: int, post_accounts: dict[Pubkey, Account] | None = None
    ) -> "Execution":
        """From LiteSVM's metadata of a run (`meta`) and the error it ended with, if any."""
        return cls(
            err,
            list(meta.logs()),
            meta.compute_units_consumed(),
            _inner_json(meta.inner_instructions()),
            _return_data_json(meta),
            fee,
            post_accounts or {},
        )


@dataclass(slots=True)
class Landed:
    """A transaction that made it into a slot: success or on-chain failure with its fee paid."""

    signature: str
    slot: int
    block_time: int
    processed_at: float
    transaction: VersionedTransaction
    wire: bytes
    loaded_writable: list[str]
    loaded_readonly: list[str]
    execution: Execution
    pre_balances: list[int]
    post_balances: list[int]
    pre_token_balances: list[dict[str, Any]]
    post_token_balances: list[dict[str, Any]]


def _inner_json(inner) -> list[dict[str, Any]]:
    out = []
    for index, group in enumerate(inner):
        if not group:
            continue
        out.append(
            {
                "index": index,
                "instructions": [
                    {
                        "programIdIndex": compiled.program_id_index,
                        "accounts": list(bytes(compiled.accounts)),
                        "data": b58encode(bytes(compiled.data)),
                        "stackHeight": item.stack_height(),
                    }
                    for item in group
                    for compiled in (item.instruction(),)
                ],
            }
        )
    return out


def _return_data_json(meta) -> dict[str, Any] | None:
    data = meta.return_data()
    if not bytes(data.data):
        return None
    return {"programId": str(data.program_id), "data": [b64(bytes(data.data)), "base64"]}


class Chain:
    """The cluster state; every method is synchronous and fast (run it on one thread)."""

    def __init__(self, *, confirm_delay: float = 0.8, finalize_delay: float = 12.8) -> None:
        self.svm = LiteSVM().with_blockhash_check(False).with_transaction_history(0)
        self.confirm_delay = confirm_delay
        self.finalize_delay = finalize_delay
        self.slot = 0
        self.transaction_count = 0
        self._blockhashes: OrderedDict[Hash, int] = OrderedDict()
        self._slot_hashes: deque[tuple[int, Hash]] = deque(maxlen=SLOT_HASHES_LEN)
        self._remember_blockhash(self.svm.latest_blockhash())
        self.history: OrderedDict[str, Landed] = OrderedDict()
        # Message hash -> slot, as the status cache keys it: a re-signed copy is the same transaction.
        self._processed_messages: OrderedDict[Hash, int] = OrderedDict()
        # Emulates a congested cluster: accepted transactions never reach a leader (tests set it).
        self.drop_transactions = False
        self._executables: set[Pubkey] = set()
        self._decimals: dict[str, int] = {}
        self.token_accounts_by_owner: dict[str, set[str]] = {}
        self._token_account_owner: dict[str, str] = {}
        self.bank = Keypair()
        self.svm.set_account(self.bank.pubkey(), Account(BANK_LAMPORTS, b"", Pubkey.default(), False, 0))
        self._airdrops = 0

    # ---- slots and blockhashes ----

    def _remember_blockhash(self, blockhash: Hash) -> None:
        self._blockhashes[blockhash] = self.slot
        while len(self._blockhashes) > KEPT_BLOCKHASHES:
            self._blockhashes.popitem(last=False)
        self._slot_hashes.appendleft((self.slot, blockhash))

    def advance(self, slots: int = 1) -> None:
        """Move the cluster forward: each slot gets a new blockhash and the clock follows."""
        for _ in range(slots):
            self.slot += 1
            self.svm.warp_to_slot(self.slot)
            self.svm.expire_blockhash()
            self._remember_blockhash(self.svm.latest_blockhash())
        while self._processed_messages and next(iter(self._processed_messages.values())) < (
            self.slot - MAX_PROCESSING_AGE
        ):
            self._processed_messages.popitem(last=False)
        clock = self.svm.get_clock()
        clock.unix_timestamp = int(time.time())
        self.svm.set_clock(clock)
        self.svm.set_slot_hashes(list(self._slot_hashes))

    @property
    def block_height(self) -> int:
        return self.slot  # no skipped slots here

    @property
    def latest_blockhash(self) -> Hash:
        return next(reversed(self._blockhashes))

    def last_valid_block_height(self, blockhash: Hash) -> int | None:
        slot = self._blockhashes.get(blockhash)
        return None if slot is None else slot + MAX_PROCESSING_AGE

    def is_blockhash_valid(self, blockhash: Hash) -> bool:
        slot = self._blockhashes.get(blockhash)
        return slot is not None and self.slot - slot <= MAX_PROCESSING_AGE

    # ---- accounts ----

    def account(self, key: Pubkey) -> Account | None:
        return self.svm.get_account(key)

    def is_executable(self, key: Pubkey) -> bool:
        """Cached, so program accounts (megabytes of ELF) are read once at most."""
        if key in self._executables:
            return True
        account = self.svm.get_account(key)
        if account is not None and account.executable:
            self._executables.add(key)
            return True
        return False

    def decimals_of(self, mint: str) -> int | None:
        if mint in self._decimals:
            return self._decimals[mint]
        account = self.svm.get_account(Pubkey.from_string(mint))
        if account is None or token_account_kind(str(account.owner), bytes(account.data)) != "mint":
            return None
        self._decimals[mint] = mint_decimals(bytes(account.data))
        return self._decimals[mint]

    def set_account(self, key: Pubkey, account: Account) -> None:
        self.svm.set_account(key, account)
        self._index_token_account(key, account)

    def _index_token_account(self, key: Pubkey, account: Account | None) -> None:
        address = str(key)
        previous = self._token_account_owner.pop(address, None)
        if previous is not None:
            self.token_accounts_by_owner[previous].discard(address)
        if account is None:
            return
        data = bytes(account.data)
        if token_account_kind(str(account.owner), data) == "account":
            owner = token_account_fields(data)[1]
            self._token_account_owner[address] = owner
            self.token_accounts_by_owner.setdefault(owner, set()).add(address)

    # ---- transactions ----

    def loaded_addresses(self, message: Message | MessageV0) -> tuple[list[Pubkey], list[Pubkey]]:
        """Resolve a v0 message's lookup tables; TransactionError as the runtime names it."""
        writable: list[Pubkey] = []
        readonly: list[Pubkey] = []
        if not isinstance(message, MessageV0):
            return writable, readonly
        for lookup in message.address_table_lookups:
            table = self.svm.get_account(lookup.account_key)
            if table is None:
                raise TransactionError("AddressLookupTableNotFound")
            if table.owner != ADDRESS_LOOKUP_TABLE_PROGRAM:
                raise TransactionError("InvalidAddressLookupTableOwner")
            data = bytes(table.data)
            if len(data) < LOOKUP_TABLE_META_SIZE or (len(data) - LOOKUP_TABLE_META_SIZE) % 32:
                raise TransactionError("InvalidAddressLookupTableData")
            addresses = [
                Pubkey.from_bytes(data[offset : offset + 32])
                for offset in range(LOOKUP_TABLE_META_SIZE, len(data), 32)
            ]
            for indexes, target in ((lookup.writable_indexes, writable), (lookup.readonly_indexes, readonly)):
                for index in bytes(indexes):
                    if index >= len(addresses):
                        raise TransactionError("InvalidAddressLookupTableIndex")
                    target.append(addresses[index])
        return writable, readonly

    def _snapshot(self, keys: list[Pubkey]) -> tuple[list[int], list[dict[str, Any]], dict[Pubkey, Account]]:
        balances: list[int] = []
        token_balances: list[dict[str, Any]] = []
        accounts: dict[Pubkey, Account] = {}
        for index, key in enumerate(keys):
            balances.append(self.svm.get_balance(key) or 0)
            if self.is_executable(key):
                continue
            account = self.svm.get_account(key)
            if account is None:
                continue
            accounts[key] = account
            owner = str(account.owner)
            if owner not in TOKEN_PROGRAMS:
                continue
            data = bytes(account.data)
            if token_account_kind(owner, data) != "account":
                continue
            mint, holder, amount = token_account_fields(data)
            decimals = self.decimals_of(mint)
            if decimals is None:
                continue
            token_balances.append(
                {
                    "accountIndex": index,
                    "mint": mint,
                    "uiTokenAmount": ui_token_amount(amount, decimals),
                    "owner": holder,
                    "programId": owner,
                }
            )
        return balances, token_balances, accounts

    def _check_age_and_fee(self, tx: VersionedTransaction, *, check_blockhash: bool = True) -> int:
        message = tx.message
        if check_blockhash and not self.is_blockhash_valid(message.recent_blockhash):
            raise TransactionError("BlockhashNotFound")
        if check_blockhash and (
            str(tx.signatures[0]) in self.history or message.hash() in self._processed_messages
        ):
            raise TransactionError("AlreadyProcessed")
        fee = fee_lamports(message)
        payer = message.account_keys[0]
        balance = self.svm.get_balance(payer)
        if balance is None:
            raise TransactionError("AccountNotFound")
        if balance < fee:
            raise TransactionError("InsufficientFundsForFee")
        return fee

    def simulate(self, tx: VersionedTransaction, *, check_blockhash: bool = True) -> Execution:
        """Run without committing; refusals come back as `err`, like the RPC's simulation."""
        try:
            fee = self._check_age_and_fee(tx, check_blockhash=check_blockhash)
        except TransactionError as refused:
            return Execution(refused.err, [], 0, [], None, 0)
        self.svm.with_sigverify(False)
        try:
            result = self.svm.simulate_transaction(tx)
        finally:
            self.svm.with_sigverify(True)
        if isinstance(result, FailedTransactionMetadata):
            meta = result.meta()
            err = json.loads(result.to_json())["err"]
            post: dict[Pubkey, Account] = {}
        else:
            meta = result.meta()
            err = None
            post = dict(result.post_accounts())
        return Execution.of(err, meta, fee, post)

    def process(self, tx: VersionedTransaction, wire: bytes) -> Landed:
        """Execute for real. Landed when it took a fee; TransactionError when the cluster drops it."""
        fee = self._check_age_and_fee(tx)
        writable, readonly = self.loaded_addresses(tx.message)
        keys = [*tx.message.account_keys, *writable, *readonly]
        payer = keys[0]
        pre_balances, pre_tokens, _ = self._snapshot(keys)
        result = self.svm.send_transaction(tx)
        if isinstance(result, FailedTransactionMetadata):
            if (self.svm.get_balance(payer) or 0) >= pre_balances[0]:
                raise TransactionError(json.loads(result.to_json())["err"])
            err = json.loads(result.to_json())["err"]
            meta = result.meta()
        else:
            err = None
            meta = result
        self._charge_priority_fee(payer, fee, tx.message.header.num_required_signatures)
        post_balances, post_tokens, post_accounts = self._snapshot(keys)
        for key in keys:
            self._index_token_account(key, post_accounts.get(key))
        signature = str(tx.signatures[0])
        landed = Landed(
            signature=signature,
            slot=self.slot,
            block_time=int(time.time()),
            processed_at=time.monotonic(),
            transaction=tx,
            wire=wire,
            loaded_writable=[str(k) for k in writable],
            loaded_readonly=[str(k) for k in readonly],
            execution=Execution.of(err, meta, fee),
            pre_balances=pre_balances,
            post_balances=post_balances,
            pre_token_balances=pre_tokens,
            post_token_balances=post_tokens,
        )
        self.history[signature] = landed
        self._processed_messages[tx.message.hash()] = self.slot
        while len(self.history) > HISTORY_LIMIT:
            self.history.popitem(last=False)
        self.transaction_count += 1
        return landed

    def _charge_priority_fee(self, payer: Pubkey, fee: int, signatures: int) -> None:
        """LiteSVM takes only the base fee; take the priority fee too, as a cluster does."""
        priority = fee - LAMPORTS_PER_SIGNATURE * signatures
        account = self.svm.get_account(payer)
        if priority <= 0 or account is None:
            return
        lamports = account.lamports - min(priority, account.lamports)
        self.svm.set_account(
            payer, Account(lamports, account.data, account.owner, account.executable, account.rent_epoch)
        )

    # ---- statuses ----

    def commitment_of(self, landed: Landed) -> str:
        age = time.monotonic() - landed.processed_at
        if age >= self.finalize_delay:
            return "finalized"
        if age >= self.confirm_delay:
            return "confirmed"
        return "processed"

    def signature_status(self, signature: str) -> dict[str, Any] | None:
        landed = self.history.get(signature)
        if landed is None:
            return None
        level = self.commitment_of(landed)
        err = landed.execution.err
        return {
            "slot": landed.slot,
            "confirmations": None if level == "finalized" else self.slot - landed.slot,
            "err": err,
            "status": {"Ok": None} if err is None else {"Err": err},
            "confirmationStatus": level,
        }

    def airdrop(self, to: Pubkey, lamports: int) -> Landed:
        self._airdrops += 1
        ixs = [
            transfer(TransferParams(from_pubkey=self.bank.pubkey(), to_pubkey=to, lamports=lamports)),
            memo(f"airdrop {self._airdrops}".encode()),
        ]
        message = MessageV0.try_compile(self.bank.pubkey(), ixs, [], self.latest_blockhash)
        tx = VersionedTransaction(message, [self.bank])
        return self.process(tx, bytes(tx))
