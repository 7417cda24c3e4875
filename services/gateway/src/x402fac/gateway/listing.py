"""The listing of a resource when a settle that carried the `bazaar` extension succeeds. Malformed
info never blocks the payment: the settle answer says so in `extensions.bazaar`
(`invalid_discovery_info` and why) and nothing is listed. The ledger decides the rest
(ledger.discovery: only settled payments list, per-payTo and total caps). A listing costs a real
payment: one worth at least the asset's configured minimum (well above our gas), from a payer other
than the payTo.
"""

from x402fac.bus import BusError
from x402fac.bus import request as ask
from x402fac.protocol import PaymentRequirements, Reason, VerifyRequest, family_of
from x402fac.protocol.ledger import SUBJECT_DISCOVERY_ADD, DiscoveryAddReply, DiscoveryAddRequest

from .bazaar import InvalidDiscovery, catalog_entry
from .replies import LEDGER_TIMEOUT

SELF_PAYMENT = "self_payment"
BELOW_MINIMUM = "amount_below_listing_minimum"


def refused(reason: str, message: str) -> dict:
    return {"status": "refused", "reason": reason, "message": message}


def invalid_info(request: VerifyRequest) -> dict | None:
    """Why the bazaar info of `request` cannot be listed, or None (also when it carries none)."""
    try:
        catalog_entry(request)
    except InvalidDiscovery as invalid:
        return refused(Reason.INVALID_DISCOVERY_INFO, str(invalid))
    return None


def listing_minimum(requirements: PaymentRequirements, minimums: dict[str, int]) -> int:
    """The least a payment in `requirements`' asset must carry to list (GatewayConfig.discovery_minimums):
    the asset's own, else its family's."""
    asset = minimums.get(f"asset:{requirements.asset}")
    return asset if asset is not None else minimums.get(family_of(requirements.network) or "", 0)


def unlistable(request: VerifyRequest, payer: str | None, minimums: dict[str, int]) -> dict | None:
    """Why a settled payment does not earn a listing: a payTo paying itself (the settle costs it only
    our gas), or a payment worth less than the asset's minimum (one unit pays for a listing)."""
    requirements = request.payment_requirements
    if payer and payer.lower() == requirements.pay_to.lower():
        return refused(SELF_PAYMENT, "a payment from payTo to itself does not list a resource")
    minimum = listing_minimum(requirements, minimums)
    if int(requirements.amount) < minimum:
        message = f"a listing takes a payment of at least {minimum} of asset {requirements.asset}"
        return refused(BELOW_MINIMUM, message)
    return None


async def list_settled(
    nc, request: VerifyRequest, payer: str | None, minimums: dict[str, int]
) -> dict | None:
    """After a successful settle by `payer`: list the resource; what happened, for `extensions.bazaar`."""
    try:
        entry = catalog_entry(request)
    except InvalidDiscovery as invalid:
        return refused(Reason.INVALID_DISCOVERY_INFO, str(invalid))
    if entry is None:
        return None
    if (reason := unlistable(request, payer, minimums)) is not None:
        return reason
    try:
        reply = await ask(
            nc, SUBJECT_DISCOVERY_ADD, DiscoveryAddRequest(entry), DiscoveryAddReply, LEDGER_TIMEOUT
        )
    except BusError:
        return {"status": "not_listed", "message": "the catalog did not answer; the next settle lists it"}
    if reply.ok:
        return {"status": "listed", "resource": entry.resource}
    messages = {
        "catalog_full": "the catalog is full",
        "pay_to_full": "this payTo has as many resources listed as it may",
        "invalid": "the entry is too large",
    }
    return refused(reply.error or "not_listed", messages.get(reply.error, "not listed"))
