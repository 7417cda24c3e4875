"""Token-2022 mints with extensions on the devnet, made by real transactions (LiteSVM runs the real
Token-2022 program): transfer fee, permanent delegate, transfer hook, non-transferable, pausable,
confidential transfers. The extension init instructions are built by hand (solders has none); each
must run after the account is created and before InitializeMint2.
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import VersionedTransaction

from x402fac.solana import TOKEN_2022_PROGRAM as TOKEN_2022

from .chain import TransactionError
from .instructions import ata, create_ata_idempotent, initialize_mint2, mint_to_checked

BASE_ACCOUNT_SIZE = 165  # a mint is padded to the size of a token account before its extensions
MULTISIG_SIZE = 355  # Token-2022 refuses an account of this size (ambiguous with a multisig)

# Token-2022 instruction tags (spl-token-2022 `TokenInstruction`)
TRANSFER_FEE_EXTENSION = 26
CONFIDENTIAL_TRANSFER_EXTENSION = 27
INITIALIZE_NON_TRANSFERABLE_MINT = 32
INITIALIZE_PERMANENT_DELEGATE = 35
TRANSFER_HOOK_EXTENSION = 36
PAUSABLE_EXTENSION = 44


@dataclass(frozen=True, slots=True)
class Extension:
    """One mint extension: its state size in the mint's TLV data and its init instruction data."""

    name: str
    size: int
    data: bytes


def _option(key: Pubkey | None) -> bytes:
    """COption<Pubkey> as Token-2022 instructions pack it."""
    return b"\x00" if key is None else b"\x01" + bytes(key)


def _nonzero(key: Pubkey | None) -> bytes:
    """OptionalNonZeroPubkey: 32 zero bytes for none."""
    return bytes(32) if key is None else bytes(key)


def transfer_fee(basis_points: int, maximum_fee: int, authority: Pubkey | None = None) -> Extension:
    data = (
        bytes([TRANSFER_FEE_EXTENSION, 0])
        + _option(authority)
        + _option(authority)
        + basis_points.to_bytes(2, "little")
        + maximum_fee.to_bytes(8, "little")
    )
    return Extension("transfer_fee", 108, data)


def permanent_delegate(delegate: Pubkey) -> Extension:
    return Extension("permanent_delegate", 32, bytes([INITIALIZE_PERMANENT_DELEGATE]) + bytes(delegate))


def transfer_hook(program: Pubkey, authority: Pubkey | None = None) -> Extension:
    data = bytes([TRANSFER_HOOK_EXTENSION, 0]) + _nonzero(authority) + _nonzero(program)
    return Extension("transfer_hook", 64, data)


def non_transferable() -> Extension:
    return Extension("non_transferable", 0, bytes([INITIALIZE_NON_TRANSFERABLE_MINT]))


def pausable(authority: Pubkey) -> Extension:
    return Extension("pausable", 33, bytes([PAUSABLE_EXTENSION, 0]) + bytes(authority))


def confidential_transfer(authority: Pubkey | None = None, auto_approve: bool = True) -> Extension:
    data = (
        bytes([CONFIDENTIAL_TRANSFER_EXTENSION, 0]) + _nonzero(authority) + bytes([auto_approve]) + bytes(32)
    )
    return Extension("confidential_transfer", 65, data)


def mint_size(extensions: list[Extension]) -> int:
    if not extensions:
        return 82
    size = BASE_ACCOUNT_SIZE + 1 + sum(4 + extension.size for extension in extensions)
    return size + 4 if size == MULTISIG_SIZE else size  # an empty TLV entry keeps it unambiguous


def create_mint_2022(
    devnet,
    extensions: list[Extension],
    *,
    decimals: int = 6,
    holders: dict[Pubkey, int] | None = None,
    accounts_for: tuple[Pubkey, ...] = (),
) -> Pubkey:
    """A Token-2022 mint with `extensions`, created by a landed transaction; `holders` get token
    accounts holding their amounts, `accounts_for` empty token accounts. Returns the mint address."""
    chain = devnet.chain
    issuer = devnet.mint_authority
    mint = Keypair()
    size = mint_size(extensions)
    create = create_account(
        CreateAccountParams(
            from_pubkey=issuer.pubkey(),
            to_pubkey=mint.pubkey(),
            lamports=chain.svm.minimum_balance_for_rent_exemption(size),
            space=size,
            owner=TOKEN_2022,
        )
    )
    inits = [
        Instruction(TOKEN_2022, extension.data, [AccountMeta(mint.pubkey(), False, True)])
        for extension in extensions
    ]
    setup = [create, *inits, initialize_mint2(mint.pubkey(), decimals, issuer.pubkey(), TOKEN_2022)]
    _land(chain, issuer, setup, [issuer, mint])
    funding = []
    for owner, amount in (holders or {}).items():
        funding.append(create_ata_idempotent(issuer.pubkey(), owner, mint.pubkey(), TOKEN_2022))
        funding.append(
            mint_to_checked(
                mint.pubkey(),
                ata(owner, mint.pubkey(), TOKEN_2022),
                issuer.pubkey(),
                amount,
                decimals,
                TOKEN_2022,
            )
        )
    funding.extend(
        create_ata_idempotent(issuer.pubkey(), owner, mint.pubkey(), TOKEN_2022) for owner in accounts_for
    )
    if funding:
        _land(chain, issuer, funding, [issuer])
    return mint.pubkey()


def token_2022_balance(devnet, owner: Pubkey, mint: Pubkey) -> int:
    """What `owner`'s Token-2022 account for `mint` holds (withheld fees excluded)."""
    account = devnet.chain.account(ata(owner, mint, TOKEN_2022))
    return 0 if account is None else int.from_bytes(bytes(account.data)[64:72], "little")


def _land(chain, payer: Keypair, instructions: list[Instruction], signers: list[Keypair]) -> None:
    message = MessageV0.try_compile(payer.pubkey(), instructions, [], chain.latest_blockhash)
    tx = VersionedTransaction(message, signers)
    landed = chain.process(tx, bytes(tx))
    if landed.execution.err is not None:
        raise TransactionError(landed.execution.err)
