"""Settling a Solana `exact` payment: our fee-payer signature in slot 0, then one send."""

from __future__ import annotations

from dataclasses import dataclass

from solders.hash import Hash

from x402fac.protocol import Reason
from x402fac.rpc import NodeUnavailable, RpcError
from x402fac.worker import Prepared, Rejected

from .runtime import SolanaRuntime
from .transaction import SolanaPayment, sign_fee_payer


@dataclass(frozen=True, slots=True)
class SolanaAttempt:
    """Our co-signed transaction, and the blockhash that bounds how long it can land."""

    wire: bytes
    blockhash: Hash


def prepare(runtime: SolanaRuntime, payment: SolanaPayment) -> Prepared[SolanaAttempt]:
    fee_payer = runtime.fee_payers[str(payment.fee_payer)]  # verify checked it is ours
    signed = sign_fee_payer(payment.transaction, payment.signed_message, fee_payer)
    signature = str(signed.signatures[0])
    runtime.remember(signature, payment.blockhash)
    return Prepared(
        signature,
        runtime.config.network,
        SolanaAttempt(bytes(signed), payment.blockhash),
        hint=str(payment.blockhash),
    )


async def broadcast(runtime: SolanaRuntime, prepared: Prepared[SolanaAttempt]) -> None:
    try:
        await runtime.client.send(prepared.attempt.wire)
    except RpcError as exc:
        raise Rejected(Reason.SETTLEMENT_FAILED, f"the node refused the transaction: {exc.message}") from None
    except NodeUnavailable as exc:
        if not exc.maybe_delivered:
            raise Rejected(Reason.NODE_UNAVAILABLE, str(exc)) from None
        raise  # may have reached a node: the pipeline keeps it pending for reconciliation
