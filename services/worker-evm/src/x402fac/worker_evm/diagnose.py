"""Why a transfer reverts: the most precise reason, read from the token's own state."""

from __future__ import annotations

from x402fac.protocol import Reason
from x402fac.rpc import NodeUnavailable
from x402fac.worker import Invalid

from . import eip3009, permit2
from .chain import RpcError
from .runtime import EvmPayment, EvmRuntime, hex_of, view

DOMAIN_DIFFERS = "the token's EIP-712 domain separator differs from the one built from extra/chain id/asset"
# Revert messages of the reference EIP-3009 token, each with the reason it means.
REVERT_REASONS = (
    ("authorization is used", Reason.NONCE_ALREADY_USED),
    ("authorization is expired", Reason.EXPIRED),
    ("authorization is not yet valid", Reason.NOT_YET_VALID),
    ("exceeds balance", Reason.INSUFFICIENT_BALANCE),
    ("invalid signature", Reason.INVALID_SIGNATURE),
)


def _word(answer: object) -> int | None:
    """The first 32-byte word of an eth_call answer, if it has one."""
    if isinstance(answer, str) and len(answer) >= 66:
        return int(answer[2:66], 16)
    return None


def _text(answer: object) -> str | None:
    return eip3009.decode_string(bytes.fromhex(answer[2:])) if isinstance(answer, str) else None


async def diagnose(payment: EvmPayment, revert: str) -> Invalid:
    """The most precise reason a simulated transfer reverts, from the token's own state."""
    runtime, token, authorization = payment.runtime, payment.token, payment.authorization
    name, version = payment.asset.name, payment.asset.version
    payer = authorization.from_address
    state, token_name, token_version, balance, separator = await runtime.rpc.batch(
        [
            view(token, eip3009.authorization_state_calldata(payer, authorization.nonce)),
            view(token, eip3009.SELECTORS["name"]),
            view(token, eip3009.SELECTORS["version"]),
            view(token, eip3009.balance_of_calldata(payer)),
            view(token, eip3009.SELECTORS["DOMAIN_SEPARATOR"]),
        ]
    )
    lowered = revert.lower()
    if _word(state):
        return Invalid(
            Reason.NONCE_ALREADY_USED, f"authorization {hex_of(authorization.nonce)} was already used"
        )
    if isinstance(state, RpcError):
        return Invalid(
            Reason.SIMULATION_FAILED, f"asset {token} does not look like an EIP-3009 token: {revert}"
        )
    actual_name = _text(token_name)
    if actual_name is not None and actual_name != name:
        return Invalid(
            Reason.TOKEN_DOMAIN_MISMATCH, f"token name is {actual_name!r} but extra.name is {name!r}"
        )
    actual_version = _text(token_version)
    if actual_version is not None and actual_version != version:
        return Invalid(
            Reason.TOKEN_DOMAIN_MISMATCH,
            f"token version is {actual_version!r} but extra.version is {version!r}",
        )
    held = _word(balance)
    if held is not None and held < authorization.value:
        return Invalid(Reason.INSUFFICIENT_BALANCE, f"balance {held} < value {authorization.value}")
    if "invalid signature" in lowered and _word(separator) is not None:
        ours = eip3009.domain_separator(name, version, runtime.config.chain_id, token)
        if bytes.fromhex(separator[2:66]) != ours:
            return Invalid(Reason.TOKEN_DOMAIN_MISMATCH, DOMAIN_DIFFERS)
    for needle, reason in REVERT_REASONS:
        if needle in lowered:
            return Invalid(reason, f"transferWithAuthorization would revert: {revert}")
    return Invalid(
        Reason.SIMULATION_FAILED, f"transferWithAuthorization would revert: {revert or 'no reason'}"
    )


def reverted(error: RpcError) -> str:
    """The reason a reverted call gave, decoded (a custom error of Permit2 or the x402 proxy by its
    name), else the node's message."""
    return permit2.decode_error(error.revert_data or b"") or error.message


async def revert_cause(runtime: EvmRuntime, transaction: str, receipt: dict) -> str:
    """Replays the reverted call on its block's state to name the cause (an authorization used, or a
    balance spent, by an earlier transaction shows there; the reverted one left no trace)."""
    try:
        tx = await runtime.rpc.call("eth_getTransactionByHash", transaction)
        replay = {"from": tx["from"], "to": tx["to"], "data": tx["input"]}
        await runtime.rpc.call("eth_call", replay, receipt["blockNumber"])
    except RpcError as exc:
        return f"transaction reverted: {reverted(exc)}"
    except (NodeUnavailable, KeyError, TypeError, ValueError):
        pass
    return "transaction reverted"
