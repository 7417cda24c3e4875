"""Encodings the Solana RPC speaks: base58, UI token amounts, jsonParsed SPL accounts, error texts."""

import base64
from decimal import Decimal
from typing import Any

from solders.pubkey import Pubkey

from x402fac import solana

# The token programs as the RPC names them (base58 strings)
TOKEN_PROGRAM = str(solana.TOKEN_PROGRAM)
TOKEN_2022_PROGRAM = str(solana.TOKEN_2022_PROGRAM)
TOKEN_PROGRAMS = (TOKEN_PROGRAM, TOKEN_2022_PROGRAM)
ACCOUNT_LEN = 165
MINT_LEN = 82
MULTISIG_LEN = 355
# Token-2022 puts an account-type byte right after the 165-byte base: 1 = mint, 2 = account.
ACCOUNT_TYPE_OFFSET = ACCOUNT_LEN
RENT_EPOCH_EXEMPT = 2**64 - 1  # what a real cluster reports for every rent-exempt account

_ALPHABET = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}


def b58encode(data: bytes) -> str:
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    out = bytearray()
    while number:
        number, rem = divmod(number, 58)
        out.append(_ALPHABET[rem])
    return (b"1" * zeros + bytes(reversed(out))).decode()


def b58decode(text: str) -> bytes:
    raw = text.encode()
    number = 0
    for c in raw:
        if c not in _INDEX:
            raise ValueError(f"invalid base58 character {chr(c)!r}")
        number = number * 58 + _INDEX[c]
    zeros = len(raw) - len(raw.lstrip(b"1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


def ui_token_amount(amount: int, decimals: int) -> dict[str, Any]:
    """UiTokenAmount exactly as the RPC renders it (uiAmount is a float there; ours stays an int)."""
    if decimals:
        text = f"{Decimal(amount).scaleb(-decimals):.{decimals}f}".rstrip("0").rstrip(".")
    else:
        text = str(amount)
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": amount / 10**decimals,
        "uiAmountString": text,
    }


def _pubkey_at(data: bytes, offset: int) -> str:
    return str(Pubkey.from_bytes(data[offset : offset + 32]))


def _coption_pubkey(data: bytes, offset: int) -> str | None:
    return _pubkey_at(data, offset + 4) if data[offset] else None


def token_account_kind(owner: str, data: bytes) -> str | None:
    """'mint', 'account', 'multisig' or None for data a token program owns."""
    if owner not in TOKEN_PROGRAMS:
        return None
    size = len(data)
    if owner == TOKEN_PROGRAM or size <= ACCOUNT_LEN:
        return {MINT_LEN: "mint", ACCOUNT_LEN: "account", MULTISIG_LEN: "multisig"}.get(size)
    if size == MULTISIG_LEN:
        return "multisig"
    return {1: "mint", 2: "account"}.get(data[ACCOUNT_TYPE_OFFSET])


def mint_decimals(data: bytes) -> int:
    return data[44]


def token_account_fields(data: bytes) -> tuple[str, str, int]:
    """(mint, owner, amount) of an SPL token account."""
    return _pubkey_at(data, 0), _pubkey_at(data, 32), int.from_bytes(data[64:72], "little")


_TOKEN_2022_EXTENSIONS = {
    # Extensions without state render as bare names; the rest are not decoded here.
    7: "immutableOwner",
    9: "nonTransferable",
    13: "nonTransferableAccount",
}


def _extensions(data: bytes) -> list[dict[str, Any]]:
    out = []
    offset = ACCOUNT_TYPE_OFFSET + 1
    while offset + 4 <= len(data):
        kind = int.from_bytes(data[offset : offset + 2], "little")
        length = int.from_bytes(data[offset + 2 : offset + 4], "little")
        if kind == 0:
            break
        out.append({"extension": _TOKEN_2022_EXTENSIONS.get(kind, "unparseableExtension")})
        offset += 4 + length
    return out


def parse_token_data(owner: str, data: bytes, decimals_of) -> dict[str, Any] | None:
    """jsonParsed rendering of SPL Token / Token-2022 data, or None when it does not parse.

    `decimals_of(mint)` returns the decimals of a mint (None when unknown), needed for balances.
    """
    kind = token_account_kind(owner, data)
    if kind is None:
        return None
    program = "spl-token" if owner == TOKEN_PROGRAM else "spl-token-2022"
    if kind == "mint":
        info: dict[str, Any] = {
            "decimals": data[44],
            "freezeAuthority": _coption_pubkey(data, 46),
            "isInitialized": bool(data[45]),
            "mintAuthority": _coption_pubkey(data, 0),
            "supply": str(int.from_bytes(data[36:44], "little")),
        }
    elif kind == "account":
        mint, holder, amount = token_account_fields(data)
        decimals = decimals_of(mint)
        if decimals is None:
            return None
        state = {0: "uninitialized", 1: "initialized", 2: "frozen"}.get(data[108], "uninitialized")
        info = {
            "isNative": bool(data[109]),
            "mint": mint,
            "owner": holder,
            "state": state,
            "tokenAmount": ui_token_amount(amount, decimals),
        }
        if data[72]:
            info["delegate"] = _pubkey_at(data, 76)
            info["delegatedAmount"] = ui_token_amount(int.from_bytes(data[121:129], "little"), decimals)
        if data[109]:
            info["rentExemptReserve"] = ui_token_amount(int.from_bytes(data[113:121], "little"), decimals)
        if data[129]:
            info["closeAuthority"] = _pubkey_at(data, 133)
    else:
        count = data[1]
        info = {
            "isInitialized": bool(data[2]),
            "numRequiredSigners": data[0],
            "numValidSigners": count,
            "signers": [_pubkey_at(data, 3 + 32 * i) for i in range(count)],
        }
    if owner == TOKEN_2022_PROGRAM and len(data) > ACCOUNT_LEN and kind != "multisig":
        info["extensions"] = _extensions(data)
    return {"program": program, "parsed": {"info": info, "type": kind}, "space": len(data)}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# Display texts of TransactionError / InstructionError (agave), for "Transaction simulation failed: ...".
_TX_ERROR_TEXT = {
    "AccountInUse": "Account in use",
    "AccountLoadedTwice": "Account loaded twice",
    "AccountNotFound": "Attempt to debit an account but found no record of a prior credit.",
    "ProgramAccountNotFound": "Attempt to load a program that does not exist",
    "InsufficientFundsForFee": "Insufficient funds for fee",
    "InvalidAccountForFee": "This account may not be used to pay transaction fees",
    "AlreadyProcessed": "This transaction has already been processed",
    "BlockhashNotFound": "Blockhash not found",
    "CallChainTooDeep": "Loader call chain is too deep",
    "MissingSignatureForFee": "Transaction requires a fee but has no signature present",
    "InvalidAccountIndex": "Transaction contains an invalid account reference",
    "SignatureFailure": "Transaction did not pass signature verification",
    "InvalidProgramForExecution": "This program may not be used for executing instructions",
    "SanitizeFailure": "Transaction failed to sanitize accounts offsets correctly",
    "AddressLookupTableNotFound": "Transaction loads an address table account that doesn't exist",
    "InvalidAddressLookupTableOwner": "Transaction loads an address table account with an invalid owner",
    "InvalidAddressLookupTableData": "Transaction loads an address table account with invalid data",
    "InvalidAddressLookupTableIndex": "Transaction address table lookup uses an invalid index",
    "WouldExceedMaxBlockCostLimit": "Transaction would exceed max Block Cost Limit",
    "UnsupportedVersion": "Transaction version is unsupported",
}
_IX_ERROR_TEXT = {
    "GenericError": "generic instruction error",
    "InvalidArgument": "invalid program argument",
    "InvalidInstructionData": "invalid instruction data",
    "InvalidAccountData": "invalid account data for instruction",
    "AccountDataTooSmall": "account data too small for instruction",
    "InsufficientFunds": "insufficient funds for instruction",
    "IncorrectProgramId": "incorrect program id for instruction",
    "MissingRequiredSignature": "missing required signature for instruction",
    "AccountAlreadyInitialized": "instruction requires an uninitialized account",
    "UninitializedAccount": "instruction requires an initialized account",
    "NotEnoughAccountKeys": "insufficient account keys for instruction",
    "AccountNotExecutable": "instruction expected an executable account",
    "ReadonlyLamportChange": "instruction changed the balance of a read-only account",
    "ReadonlyDataModified": "instruction modified data of a read-only account",
    "ExternalAccountLamportSpend": "instruction spent from the balance of an account it does not own",
    "UnbalancedInstruction": "sum of account balances before and after instruction do not match",
    "ProgramFailedToComplete": "Program failed to complete",
    "ComputationalBudgetExceeded": "Computational budget exceeded",
    "InvalidSeeds": "Provided seeds do not result in a valid address",
    "IllegalOwner": "Provided owner is not allowed",
    "PrivilegeEscalation": "Cross-program invocation with unauthorized signer or writable account",
    "UnsupportedProgramId": "Unsupported program id",
}


def transaction_error_text(err: Any) -> str:
    if isinstance(err, str):
        return _TX_ERROR_TEXT.get(err, err)
    if isinstance(err, dict) and "InstructionError" in err:
        index, inner = err["InstructionError"]
        if isinstance(inner, dict) and "Custom" in inner:
            text = f"custom program error: {inner['Custom']:#x}"
        elif isinstance(inner, dict) and "BorshIoError" in inner:
            text = "Failed to serialize or deserialize account data"
        else:
            text = _IX_ERROR_TEXT.get(inner, str(inner))
        return f"Error processing Instruction {index}: {text}"
    if isinstance(err, dict) and "InsufficientFundsForRent" in err:
        index = err["InsufficientFundsForRent"]["account_index"]
        return f"Transaction results in an account ({index}) with insufficient funds for rent"
    if isinstance(err, dict) and "DuplicateInstruction" in err:
        return f"Transaction contains a duplicate instruction ({err['DuplicateInstruction']}) that is not allowed"
    return str(err)
