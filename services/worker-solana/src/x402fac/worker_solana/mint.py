"""Reading SPL Token / Token-2022 mints: decimals, and the Token-2022 extensions that matter to a payee.

Some extensions let a mint take a cut of a transfer or move the funds afterwards; the worker refuses
such mints unless its configuration allows them (docs/design.md, "Abuse rules"):

    transfer_fee           the payee nets less than the transfer (refused only when a fee is set)
    transfer_hook          an arbitrary program runs on every transfer
    permanent_delegate     a third party can move or burn the payee's tokens at any time
    pausable               an authority can stop every transfer
    non_transferable       tokens cannot be transferred at all
    confidential_transfer  balances (and transfers) may be hidden: not a plain transfer
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.pubkey import Pubkey

from x402fac.solana import TOKEN_2022_PROGRAM, TOKEN_PROGRAMS

MINT_SIZE = 82
BASE_ACCOUNT_SIZE = 165  # a Token-2022 mint with extensions is padded to this, then its account type
MINT_ACCOUNT_TYPE = 1
TLV_START = BASE_ACCOUNT_SIZE + 1

# spl-token-2022 `ExtensionType` values of the extensions above
EXTENSIONS = {
    1: "transfer_fee",
    4: "confidential_transfer",
    9: "non_transferable",
    12: "permanent_delegate",
    14: "transfer_hook",
    26: "pausable",
}
TRANSFER_FEE_CONFIG = 1
TRANSFER_FEE_CONFIG_SIZE = 108
MAX_FEE_BASIS_POINTS = 10_000


@dataclass(frozen=True, slots=True)
class TransferFee:
    epoch: int  # the first epoch it applies to
    maximum_fee: int
    basis_points: int

    def fee(self, amount: int) -> int:
        """Token-2022's fee for `amount`: basis points rounded up, at most `maximum_fee`."""
        if not self.basis_points or not amount:
            return 0
        return min(-(-amount * self.basis_points // MAX_FEE_BASIS_POINTS), self.maximum_fee)


@dataclass(frozen=True, slots=True)
class Mint:
    program: Pubkey
    decimals: int
    extensions: frozenset[str] = frozenset()  # the risky extensions it has (transfer_fee: only if > 0)
    transfer_fees: tuple[TransferFee, TransferFee] | None = None  # (older, newer)

    @property
    def has_fee_config(self) -> bool:
        return self.transfer_fees is not None

    def fee(self, amount: int, epoch: int | None) -> int:
        """The fee a transfer of `amount` pays in `epoch` (None: both schedules agree, or the newer)."""
        if self.transfer_fees is None:
            return 0
        older, newer = self.transfer_fees
        schedule = newer if epoch is None or epoch >= newer.epoch else older
        return schedule.fee(amount)

    @property
    def fee_depends_on_epoch(self) -> bool:
        return self.transfer_fees is not None and self.transfer_fees[0] != self.transfer_fees[1]


def _transfer_fee(value: bytes) -> tuple[TransferFee, TransferFee]:
    def at(offset: int) -> TransferFee:
        return TransferFee(
            epoch=int.from_bytes(value[offset : offset + 8], "little"),
            maximum_fee=int.from_bytes(value[offset + 8 : offset + 16], "little"),
            basis_points=int.from_bytes(value[offset + 16 : offset + 18], "little"),
        )

    return at(72), at(90)  # after two authorities (32 each) and the withheld amount (8)


def read_mint(owner: str, data: bytes) -> Mint | None:
    """The mint an account holds, or None when it is not an initialized Token / Token-2022 mint."""
    program = Pubkey.from_string(owner)
    if program not in TOKEN_PROGRAMS or len(data) < MINT_SIZE or not data[45]:
        return None
    if len(data) == MINT_SIZE:
        return Mint(program, data[44])
    if (
        program != TOKEN_2022_PROGRAM
        or len(data) <= BASE_ACCOUNT_SIZE
        or data[BASE_ACCOUNT_SIZE] != MINT_ACCOUNT_TYPE
    ):
        return None
    names: set[str] = set()
    fees: tuple[TransferFee, TransferFee] | None = None
    offset = TLV_START
    while offset + 4 <= len(data):
        kind = int.from_bytes(data[offset : offset + 2], "little")
        length = int.from_bytes(data[offset + 2 : offset + 4], "little")
        value = data[offset + 4 : offset + 4 + length]
        if kind == 0 or len(value) < length:
            break
        if kind == TRANSFER_FEE_CONFIG and length == TRANSFER_FEE_CONFIG_SIZE:
            fees = _transfer_fee(value)
            if any(fee.basis_points and fee.maximum_fee for fee in fees):
                names.add("transfer_fee")
        elif kind in EXTENSIONS:  # (a fee config we cannot read counts as a fee)
            names.add(EXTENSIONS[kind])
        offset += 4 + length
    return Mint(program, data[44], frozenset(names), fees)
