"""API keys, the admin token and the payTo whitelist, as the gateway checks them.

Keys are optional: no key is anonymous use (unless `require_api_key`), a key that is not one of ours
or is revoked is always 401, never anonymous. The gateway sends only the key's SHA-256 to the ledger
and keeps answers (found or not) for `api_key_cache_seconds`, so the hot path asks the ledger about a
key at most once per few seconds, and a revocation takes effect within that time on every replica.
Invalid keys count per client IP: after `bad_key_limit_per_minute` of them the IP gets 429, so keys
cannot be guessed at speed (they have 256 random bits anyway).
"""

import hashlib
import hmac
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Mapping

from nats.aio.client import Client

from x402fac.bus import BusError, encode_key, request, subjects
from x402fac.protocol.ledger import ApiKey, KeyCheckRequest, KeyReply, WhitelistReply, WhitelistRequest

from .config import GatewayConfig
from .edge import per_minute_limit
from .errors import GatewayError

log = logging.getLogger(__name__)
KEY_FORMAT = re.compile(r"x402n_[A-Za-z0-9_-]{43}")
CACHE_ENTRIES = 10_000
LEDGER_TIMEOUT = 2.0


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request carries (`x-api-key`, or `Authorization: Bearer`), None when it has none."""
    key = headers.get("x-api-key")
    if key is not None:
        return key.strip()
    authorization = headers.get("authorization")
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else authorization


class TtlCache:
    """A bounded map whose entries are good for `ttl` seconds (LRU beyond `size`)."""

    def __init__(self, ttl: float, size: int = CACHE_ENTRIES) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[str, tuple[float, object]] = OrderedDict()

    def get(self, key: str) -> tuple[bool, object]:
        found = self._entries.get(key)
        if found is None or found[0] < time.monotonic():
            return False, None
        return True, found[1]

    def put(self, key: str, value: object) -> None:
        self._entries[key] = (time.monotonic() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


class Access:
    def __init__(self, nc: Client, config: GatewayConfig) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.config = config
        self._keys = TtlCache(config.api_key_cache_seconds)
        self._payees = TtlCache(config.api_key_cache_seconds)

    async def identify(self, headers: Mapping[str, str], client_ip: str) -> ApiKey | None:
        """The request's key, None when it presents none; GatewayError 401 (a key that is not one
        of ours, or revoked), 429 (too many bad keys from this IP, or the key's own limit), 503 (no
        ledger). Whether anonymous use is allowed is the route's to say."""
        secret = presented_key(headers)
        if secret is None:
            return None
        key = await self._lookup(secret) if KEY_FORMAT.fullmatch(secret) else None
        if key is None or key.revoked:
            await self._count_bad_key(client_ip)
            what = "revoked" if key is not None else "invalid"
            raise GatewayError(
                401, "unauthorized", f"the API key is {what}; omit it to use the facilitator anonymously"
            )
        await self._check_key_rate(key)
        return key

    async def _lookup(self, secret: str) -> ApiKey | None:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        hit, cached = self._keys.get(digest)
        if hit:
            return cached  # type: ignore[return-value]
        try:
            reply = await request(
                self.nc, subjects.LEDGER_KEY_CHECK, KeyCheckRequest(digest), KeyReply, LEDGER_TIMEOUT
            )
        except BusError as exc:
            log.warning("API key check unavailable: %s", exc)
            raise GatewayError(
                503, "ledger_unavailable", "cannot check the API key now", retry_after=2
            ) from None
        key = reply.key if reply.ok else None
        self._keys.put(digest, key)
        return key

    async def _count_bad_key(self, client_ip: str) -> None:
        limit, refusal = self.config.bad_key_limit_per_minute, f"too many invalid API keys from {client_ip}"
        await per_minute_limit(self.js, "ip.badkey", encode_key(client_ip), limit, refusal)

    async def _check_key_rate(self, key: ApiKey) -> None:
        refusal = f"more than {key.rate_per_minute} requests per minute with this key"
        await per_minute_limit(self.js, "key", key.id, key.rate_per_minute, refusal)

    @staticmethod
    def presented_admin_token(headers: Mapping[str, str]) -> str:
        return headers.get("x-admin-token") or presented_key(headers) or ""

    def require_admin(self, headers: Mapping[str, str]) -> None:
        token = self.config.admin_token
        if not token:
            raise GatewayError(401, "unauthorized", "the admin API is disabled (set X402FAC_ADMIN_TOKEN)")
        presented = self.presented_admin_token(headers)
        if not hmac.compare_digest(presented.encode(), token.encode()):
            raise GatewayError(401, "unauthorized", "a valid admin token is required")

    async def registration(self, address: str) -> WhitelistReply:
        hit, cached = self._payees.get(address)
        if hit:
            return cached  # type: ignore[return-value]
        try:
            reply = await request(
                self.nc,
                subjects.LEDGER_WHITELIST_GET,
                WhitelistRequest(address=address),
                WhitelistReply,
                LEDGER_TIMEOUT,
            )
        except BusError as exc:
            log.warning("whitelist unavailable: %s", exc)
            raise GatewayError(
                503, "ledger_unavailable", "cannot check the whitelist now", retry_after=2
            ) from None
        self._payees.put(address, reply)
        return reply

    async def payto_registered(self, address: str, network: str) -> bool:
        reply = await self.registration(address)
        if not reply.ok or reply.entry is None:
            return False
        return "*" in reply.entry.networks or network in reply.entry.networks
