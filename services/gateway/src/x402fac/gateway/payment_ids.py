"""The x402 `payment-identifier` extension on settle: the one opt-in path to a stored answer again.

A v2 payment may carry `extensions["payment-identifier"].info.id` (16-128 characters of
`[A-Za-z0-9_-]`). An id is its payer's: the gateway first has the worker verify the payment (which
authenticates its payer), then claims (payer, id) with the ledger, bound to a SHA-256 of the canonical
payment (paymentPayload and paymentRequirements, keys sorted), so a stranger can neither claim nor
block another payer's id. Same id + same payment after a
success → that stored answer (no worker, no second transfer); same id + another payment → HTTP 200
`payment_identifier_conflict`; same id + same payment while another request settles it → wait for
that answer (within this request's deadline). A payment that no longer verifies (already settled)
only looks for its stored success. Only successes are stored; anything else releases the id, and
the payment's own one-success rules (libs/worker pipeline) decide every retry.
"""

import asyncio
import hashlib
import logging
import re
import time
from typing import Any

import msgspec

from x402fac.bus import BusError
from x402fac.bus import request as ask
from x402fac.protocol import SettleResponse, VerifyRequest
from x402fac.protocol.ledger import (
    SUBJECT_PAYMENT_ID_CLAIM,
    SUBJECT_PAYMENT_ID_FINISH,
    PaymentIdClaim,
    PaymentIdFinish,
    PaymentIdReply,
)

log = logging.getLogger(__name__)
PAYMENT_IDENTIFIER = "payment-identifier"
_ID = re.compile(r"[A-Za-z0-9_-]{16,128}")
LEDGER_TIMEOUT = 5.0


class InvalidIdentifier(ValueError):
    pass


def payment_identifier(request: VerifyRequest) -> str | None:
    """The id a v2 payment carries; None without one (a payload may echo the declaration without
    an id); raises InvalidIdentifier for a malformed one."""
    extensions = request.payment_payload.extensions
    if request.x402_version != 2 or not isinstance(extensions, dict) or PAYMENT_IDENTIFIER not in extensions:
        return None
    extension = extensions[PAYMENT_IDENTIFIER]
    info: Any = extension.get("info") if isinstance(extension, dict) else None
    if not isinstance(info, dict) or info.get("id") is None:
        return None
    value = info["id"]
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidIdentifier("payment-identifier info.id must be 16-128 characters of [A-Za-z0-9_-]")
    return value


def payment_digest(request: VerifyRequest) -> str:
    canonical = msgspec.json.encode(
        {
            "paymentPayload": msgspec.to_builtins(request.payment_payload),
            "paymentRequirements": msgspec.to_builtins(request.payment_requirements),
        },
        order="sorted",
    )
    return hashlib.sha256(canonical).hexdigest()


async def claim(
    nc, payer: str, identifier: str, digest: str, requester: str, deadline: float, peek: bool = False
) -> PaymentIdReply:
    """Claim `payer`'s id (`peek`: only look for its stored success)."""
    message = PaymentIdClaim(
        id=identifier, digest=digest, requester=requester, deadline=deadline, payer=payer, peek=peek
    )
    return await ask(nc, SUBJECT_PAYMENT_ID_CLAIM, message, PaymentIdReply, LEDGER_TIMEOUT)


async def finish(
    nc, payer: str, identifier: str, digest: str, requester: str, response: SettleResponse | None
) -> None:
    """Store a success for replay, or release the id; best effort (a lost release ends at the deadline)."""
    message = PaymentIdFinish(
        id=identifier,
        digest=digest,
        requester=requester,
        response=response if response is not None and response.success else None,
        payer=payer,
    )
    try:
        await ask(nc, SUBJECT_PAYMENT_ID_FINISH, message, PaymentIdReply, LEDGER_TIMEOUT)
    except BusError as exc:
        log.warning("payment identifier %s: the ledger did not take the outcome: %s", identifier, exc)


async def wait_a_little(delay: float, deadline: float) -> float:
    """Sleep at most until `deadline` (epoch seconds); the next, longer delay."""
    await asyncio.sleep(max(0.0, min(delay, deadline - time.time())))
    return min(delay * 2, 0.5)
