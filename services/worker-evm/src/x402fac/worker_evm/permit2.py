"""Permit2 `exact` without a chain: the payload (`permit2Authorization`), the EIP-712 digest the payer
signed, the x402 exact proxy's calldata (`settle`, `settleWithPermit`), the `eip2612GasSponsoring`
extension, Permit2's and the proxy's custom errors, and the transfer's log.

What the official clients sign (x402.mechanisms.evm.exact.permit2_utils): a Permit2
`PermitWitnessTransferFrom` with spender = the x402 exact proxy and witness `Witness(address to,
uint256 validAfter)`; the proxy transfers exactly `permitted.amount` to `witness.to`. For `upto`
(x402.mechanisms.evm.upto): spender = the x402 upto proxy, witness `Witness(address to, address
facilitator, uint256 validAfter)`; the proxy, called by `witness.facilitator` only, transfers the
amount it is given, at most `permitted.amount`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .eip3009 import (
    TRANSFER_TOPIC,
    PayloadError,
    _address,
    _address_word,
    _uint,
    _word,
    checksum_address,
    decode_revert,
)
from .keccak import keccak

PERMIT2_ADDRESS = "0x000000000022D473030F116dDEE9F6B43aC78BA3"
EXACT_PROXY_ADDRESS = "0x402085c248EeA27D92E8b30b2C58ed07f9E20001"
UPTO_PROXY_ADDRESS = "0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002"
EIP2612_GAS_SPONSORING = "eip2612GasSponsoring"
ERC20_APPROVAL_GAS_SPONSORING = "erc20ApprovalGasSponsoring"
GAS_SPONSORING_EXTENSIONS = (EIP2612_GAS_SPONSORING, ERC20_APPROVAL_GAS_SPONSORING)
DEADLINE_MARGIN = 6  # seconds the permit must still be valid for, as the official SDK

_DOMAIN_TYPEHASH = keccak(b"EIP712Domain(string name,uint256 chainId,address verifyingContract)")
_TOKEN_PERMISSIONS_TYPEHASH = keccak(b"TokenPermissions(address token,uint256 amount)")
_WITNESS_TYPEHASH = keccak(b"Witness(address to,uint256 validAfter)")
_PERMIT_WITNESS_TYPEHASH = keccak(
    b"PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,"
    b"Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 validAfter)"
)
_UPTO_WITNESS_TYPEHASH = keccak(b"Witness(address to,address facilitator,uint256 validAfter)")
_UPTO_PERMIT_WITNESS_TYPEHASH = keccak(
    b"PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,"
    b"Witness witness)TokenPermissions(address token,uint256 amount)"
    b"Witness(address to,address facilitator,uint256 validAfter)"
)
_PERMIT = "((address,uint256),uint256,uint256)"
_SETTLE = keccak(f"settle({_PERMIT},address,(address,uint256),bytes)".encode())[:4]
_SETTLE_WITH_PERMIT = keccak(
    f"settleWithPermit((uint256,uint256,bytes32,bytes32,uint8),{_PERMIT},address,(address,uint256),bytes)".encode()
)[:4]
_UPTO_SETTLE = keccak(f"settle({_PERMIT},uint256,address,(address,address,uint256),bytes)".encode())[:4]
_UPTO_SETTLE_WITH_PERMIT = keccak(
    f"settleWithPermit((uint256,uint256,bytes32,bytes32,uint8),{_PERMIT},uint256,address,"
    "(address,address,uint256),bytes)".encode()
)[:4]
_ALLOWANCE = keccak(b"allowance(address,address)")[:4]
_APPROVE = keccak(b"approve(address,uint256)")[:4]
_NONCE_BITMAP = keccak(b"nonceBitmap(address,uint256)")[:4]
_SETTLED_TOPICS = {"0x" + keccak(e).hex() for e in (b"Settled()", b"SettledWithPermit()")}

# Custom errors of Permit2 and the proxy, by selector.
ERRORS = {
    keccak(signature.encode())[:4]: signature.partition("(")[0]
    for signature in (
        "InvalidNonce()",
        "InvalidSigner()",
        "InvalidSignature()",
        "InvalidSignatureLength()",
        "InvalidContractSignature()",
        "SignatureExpired(uint256)",
        "InvalidAmount(uint256)",
        "InvalidAmount()",
        "InvalidDestination()",
        "InvalidOwner()",
        "PaymentTooEarly()",
        "Permit2612AmountMismatch()",
        "AmountExceedsPermitted()",
        "UnauthorizedFacilitator()",
    )
}


@dataclass(frozen=True, slots=True)
class Permit2Authorization:
    """A parsed `payload.permit2Authorization` (addresses checksummed, numbers as ints)."""

    owner: str
    token: str
    amount: int
    spender: str
    nonce: int
    deadline: int
    to: str
    valid_after: int
    facilitator: str | None = None  # `upto` only: the one address that may settle it


@dataclass(frozen=True, slots=True)
class Eip2612Permit:
    """The payer's EIP-2612 permit for Permit2, from `extensions.eip2612GasSponsoring.info`."""

    owner: str
    token: str
    spender: str
    value: int
    deadline: int
    signature: bytes  # 65 bytes r, s, v


@dataclass(frozen=True, slots=True)
class Erc20Approval:
    """`extensions.erc20ApprovalGasSponsoring.info`: the payer's signed `approve` transaction."""

    owner: str
    token: str
    spender: str
    raw: bytes  # the signed transaction, decoded by `transactions.decode_signed`


def is_permit2_payload(payload: dict[str, Any]) -> bool:
    return "permit2Authorization" in payload


def _object(source: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = source.get(name)
    if not isinstance(value, dict):
        raise PayloadError(f"{where}.{name} is missing or not an object")
    return value


def _field(source: dict[str, Any], name: str, where: str) -> Any:
    if name not in source:
        raise PayloadError(f"{where}.{name} is missing")
    return source[name]


def _hex_bytes(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) <= 2 or len(value) % 2:
        raise PayloadError(f"{where} is not a hex string")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise PayloadError(f"{where} is not a hex string") from None


def parse_payload(payload: dict[str, Any], upto: bool = False) -> tuple[Permit2Authorization, bytes]:
    """The authorization and raw signature of a Permit2 `exact` payload (`upto`: of an `upto` one,
    whose witness also names the facilitator)."""
    where = "payload.permit2Authorization"
    auth = _object(payload, "permit2Authorization", "payload")
    permitted = _object(auth, "permitted", where)
    witness = _object(auth, "witness", where)
    parsed = Permit2Authorization(
        owner=_address(_field(auth, "from", where), f"{where}.from"),
        token=_address(_field(permitted, "token", f"{where}.permitted"), f"{where}.permitted.token"),
        amount=_uint(_field(permitted, "amount", f"{where}.permitted"), f"{where}.permitted.amount"),
        spender=_address(_field(auth, "spender", where), f"{where}.spender"),
        nonce=_uint(_field(auth, "nonce", where), f"{where}.nonce"),
        deadline=_uint(_field(auth, "deadline", where), f"{where}.deadline"),
        to=_address(_field(witness, "to", f"{where}.witness"), f"{where}.witness.to"),
        valid_after=_uint(_field(witness, "validAfter", f"{where}.witness"), f"{where}.witness.validAfter"),
        facilitator=_address(
            _field(witness, "facilitator", f"{where}.witness"), f"{where}.witness.facilitator"
        )
        if upto
        else None,
    )
    return parsed, _hex_bytes(payload.get("signature"), "payload.signature")


def _extension_info(extensions: Any, name: str) -> tuple[dict[str, Any], str] | None:
    """The `info` object of the payload's extension `name` and where it stands, None without one."""
    if not isinstance(extensions, dict) or name not in extensions:
        return None
    where = f"extensions.{name}.info"
    extension = extensions[name]
    info = extension.get("info") if isinstance(extension, dict) else None
    if not isinstance(info, dict):
        raise PayloadError(f"{where} is missing or not an object")
    return info, where


def parse_eip2612(extensions: Any) -> Eip2612Permit | None:
    """The `eip2612GasSponsoring` permit a payload carries, None without one."""
    found = _extension_info(extensions, EIP2612_GAS_SPONSORING)
    if found is None:
        return None
    info, where = found
    signature = _hex_bytes(_field(info, "signature", where), f"{where}.signature")
    if len(signature) != 65:
        raise PayloadError(f"{where}.signature is not 65 bytes (r, s, v)")
    return Eip2612Permit(
        owner=_address(_field(info, "from", where), f"{where}.from"),
        token=_address(_field(info, "asset", where), f"{where}.asset"),
        spender=_address(_field(info, "spender", where), f"{where}.spender"),
        value=_uint(_field(info, "amount", where), f"{where}.amount"),
        deadline=_uint(_field(info, "deadline", where), f"{where}.deadline"),
        signature=signature,
    )


def parse_erc20_approval(extensions: Any) -> Erc20Approval | None:
    """The `erc20ApprovalGasSponsoring` approval a payload carries, None without one."""
    found = _extension_info(extensions, ERC20_APPROVAL_GAS_SPONSORING)
    if found is None:
        return None
    info, where = found
    return Erc20Approval(
        owner=_address(_field(info, "from", where), f"{where}.from"),
        token=_address(_field(info, "asset", where), f"{where}.asset"),
        spender=_address(_field(info, "spender", where), f"{where}.spender"),
        raw=_hex_bytes(_field(info, "signedTransaction", where), f"{where}.signedTransaction"),
    )


def approve_arguments(data: bytes) -> tuple[str, int] | None:
    """(spender, amount) of ERC-20 `approve` calldata, None when it is not one."""
    if len(data) != 68 or data[:4] != _APPROVE or any(data[4:16]):
        return None
    return checksum_address(data[16:36]), int.from_bytes(data[36:68], "big")


@lru_cache(maxsize=64)
def domain_separator(chain_id: int) -> bytes:
    """Permit2's EIP-712 domain: name "Permit2", no version."""
    return keccak(_DOMAIN_TYPEHASH + keccak(b"Permit2") + _word(chain_id) + _address_word(PERMIT2_ADDRESS))


def digest(auth: Permit2Authorization, chain_id: int) -> bytes:
    """The EIP-712 digest the payer signed (and Permit2 recomputes with the proxy as spender)."""
    permitted = keccak(_TOKEN_PERMISSIONS_TYPEHASH + _address_word(auth.token) + _word(auth.amount))
    if auth.facilitator is None:
        typehash = _PERMIT_WITNESS_TYPEHASH
        witness = keccak(_WITNESS_TYPEHASH + _address_word(auth.to) + _word(auth.valid_after))
    else:
        typehash = _UPTO_PERMIT_WITNESS_TYPEHASH
        witness = keccak(
            _UPTO_WITNESS_TYPEHASH
            + _address_word(auth.to)
            + _address_word(auth.facilitator)
            + _word(auth.valid_after)
        )
    struct_hash = keccak(
        typehash
        + permitted
        + _address_word(auth.spender)
        + _word(auth.nonce)
        + _word(auth.deadline)
        + witness
    )
    return keccak(b"\x19\x01" + domain_separator(chain_id) + struct_hash)


def payment_id(chain_id: int, owner: str, nonce: int) -> str:
    """The ledger key of a Permit2 transfer: Permit2 spends each (owner, nonce) once, whichever proxy
    (exact or upto) and token the signature names, so every payment on that nonce shares it."""
    return "/".join((str(chain_id), PERMIT2_ADDRESS.lower(), owner.lower(), "0x" + _word(nonce).hex()))


def _calldata(selector: bytes, head: bytes, data: bytes) -> bytes:
    """ABI calldata of a function whose arguments are static ones (their words: `head`) followed by
    one `bytes`: its offset in the head, then its length and its data padded to whole words
    (eth_abi's `encode` gives the same bytes at ~60 µs a call, a verify's most costly step)."""
    return selector + head + _word(len(head) + 32) + _word(len(data)) + data + bytes(-len(data) % 32)


def _permit_words(auth: Permit2Authorization) -> bytes:
    """`((token, amount), nonce, deadline)`: Permit2's PermitTransferFrom, all static."""
    return _address_word(auth.token) + _word(auth.amount) + _word(auth.nonce) + _word(auth.deadline)


def _permit2612_words(permit: Eip2612Permit) -> bytes:
    """`(value, deadline, r, s, v)` of the payer's EIP-2612 permit."""
    sig = permit.signature
    v = sig[64] if sig[64] >= 27 else sig[64] + 27
    return _word(permit.value) + _word(permit.deadline) + sig[:32] + sig[32:64] + _word(v)


def settle_calldata(auth: Permit2Authorization, signature: bytes, permit: Eip2612Permit | None) -> bytes:
    """The proxy call: `settle(permit, owner, (to, validAfter), signature)`, or `settleWithPermit`
    carrying the payer's EIP-2612 permit first."""
    head = _permit_words(auth) + _address_word(auth.owner) + _address_word(auth.to) + _word(auth.valid_after)
    if permit is None:
        return _calldata(_SETTLE, head, signature)
    return _calldata(_SETTLE_WITH_PERMIT, _permit2612_words(permit) + head, signature)


def upto_settle_calldata(
    auth: Permit2Authorization, signature: bytes, amount: int, permit: Eip2612Permit | None
) -> bytes:
    """The upto proxy call transferring `amount` (at most `permitted.amount`): `settle(permit, amount,
    owner, (to, facilitator, validAfter), signature)`, or `settleWithPermit` carrying the payer's
    EIP-2612 permit first."""
    assert auth.facilitator is not None
    head = (
        _permit_words(auth)
        + _word(amount)
        + _address_word(auth.owner)
        + _address_word(auth.to)
        + _address_word(auth.facilitator)
        + _word(auth.valid_after)
    )
    if permit is None:
        return _calldata(_UPTO_SETTLE, head, signature)
    return _calldata(_UPTO_SETTLE_WITH_PERMIT, _permit2612_words(permit) + head, signature)


def allowance_calldata(owner: str) -> bytes:
    """ERC-20 `allowance(owner, Permit2)`."""
    return _ALLOWANCE + _address_word(owner) + _address_word(PERMIT2_ADDRESS)


def nonce_bitmap_calldata(owner: str, nonce: int) -> bytes:
    return _NONCE_BITMAP + _address_word(owner) + _word(nonce >> 8)


def nonce_used(bitmap: int, nonce: int) -> bool:
    return bool(bitmap >> (nonce & 0xFF) & 1)


def expired(deadline: int, now: float | None = None) -> bool:
    return deadline < int(now if now is not None else time.time()) + DEADLINE_MARGIN


def decode_error(data: bytes) -> str:
    """A revert's name: Permit2's or the proxy's custom error, `Error(string)` text, else hex."""
    return ERRORS.get(data[:4]) or decode_revert(data)


def transferred(logs: list[dict[str, Any]], auth: Permit2Authorization, amount: int | None = None) -> bool:
    """Whether a receipt's logs hold the token's Transfer(owner, witness.to, amount) (by default the
    permitted amount)."""
    for log in logs:
        topics = log.get("topics") or []
        if (
            log.get("address", "").lower() == auth.token.lower()
            and len(topics) == 3
            and topics[0].lower() == TRANSFER_TOPIC
            and topics[1][-40:].lower() == auth.owner[2:].lower()
            and topics[2][-40:].lower() == auth.to[2:].lower()
            and int(log.get("data") or "0x0", 16) == (auth.amount if amount is None else amount)
        ):
            return True
    return False


def proxy_settled(logs: list[dict[str, Any]], proxy: str = EXACT_PROXY_ADDRESS) -> bool:
    """Whether the proxy emitted Settled/SettledWithPermit (it does only after the transfer)."""
    return any(
        log.get("address", "").lower() == proxy.lower()
        and (log.get("topics") or [""])[0].lower() in _SETTLED_TOPICS
        for log in logs
    )
