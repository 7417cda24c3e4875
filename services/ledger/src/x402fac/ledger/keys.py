"""API keys: created, checked, listed and revoked; only a SHA-256 of each key is ever stored.

A key is `x402n_` + 43 URL-safe characters (256 random bits). With that much entropy a plain SHA-256
is enough (no slow hash: nobody can enumerate the key space), and it lets the gateway look a key up
by its hash alone. The bucket entry is named by the key's id, the hash's first 16 hex digits, so
listing, usage and revocation never need the key; a check compares the whole hash.
"""

import hashlib
import hmac
import secrets
import time

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from x402fac.bus import bucket_keys, counters, encode_key, read_entry, subjects
from x402fac.protocol.ledger import (
    ApiKey,
    KeyCheckRequest,
    KeyCreateReply,
    KeyCreateRequest,
    KeyIdRequest,
    KeyListReply,
    KeyListRequest,
    KeyReply,
)

from .config import LedgerConfig

KEY_PREFIX = "x402n_"
DISPLAY_CHARS = 4  # random characters kept beside the prefix for display
NAME_MAX = 64
_decode = msgspec.json.Decoder(ApiKey).decode
_encode = msgspec.json.encode


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_id(hash_hex: str) -> str:
    return hash_hex[:16]


def valid_name(name: str) -> bool:
    return 0 < len(name) <= NAME_MAX and name.isprintable()


class KeyStore:
    def __init__(self, js: JetStreamContext, bucket: KeyValue, config: LedgerConfig) -> None:
        self.js = js
        self.bucket = bucket
        self.config = config

    async def create(self, request: KeyCreateRequest) -> KeyCreateReply:
        """`x402.ledger.key.create` (the gateway's): a self-service key, or an admin key for a request
        carrying the admin token. Holding the gateway's bus credentials is not enough to mint one."""
        if request.origin == "admin" and not self._is_admin(request.admin_token):
            return KeyCreateReply(ok=False, error="unauthorized")
        if request.origin not in ("self-service", "admin"):
            return KeyCreateReply(ok=False, error="unauthorized")
        return await self.issue(request)

    def _is_admin(self, presented: str) -> bool:
        token = self.config.admin_token
        return bool(token) and hmac.compare_digest(presented.encode(), token.encode())

    async def issue(self, request: KeyCreateRequest) -> KeyCreateReply:
        """`x402.ledger.key.issue`: any origin; only the operator's bus user may publish there."""
        name = request.name.strip()
        if not valid_name(name):
            return KeyCreateReply(ok=False, error="invalid_name")
        if request.rate_per_minute < 0:
            return KeyCreateReply(ok=False, error="invalid_rate")
        rate = request.rate_per_minute
        if request.origin == "self-service":
            refused = await self._self_service_refusal(request.client_ip)
            if refused is not None:
                return refused
            rate = self.config.self_service_rate_per_minute
        while True:
            secret = new_secret()
            digest = key_hash(secret)
            key = ApiKey(
                id=key_id(digest),
                name=name,
                prefix=secret[: len(KEY_PREFIX) + DISPLAY_CHARS],
                hash=digest,
                created_at=time.time(),
                origin=request.origin,
                rate_per_minute=rate,
            )
            try:
                await self.bucket.create(key.id, _encode(key))
            except KeyWrongLastSequenceError:  # a 64-bit id collision: draw another key
                continue
            return KeyCreateReply(ok=True, key=key, secret=secret)

    async def _self_service_refusal(self, client_ip: str) -> KeyCreateReply | None:
        """A few keys per IP and hour, and none beyond the bucket's cap: creating keys en masse
        stays bounded (each one costs a bucket entry)."""
        limit = self.config.key_create_per_hour
        if limit <= 0:
            return KeyCreateReply(ok=False, error="disabled")
        window, retry_after = counters.current_window(3600)
        subject = f"{subjects.QUOTA_PREFIX}.keycreate.{encode_key(client_ip or 'unknown')}.{window}"
        if await counters.increment(self.js, subject) > limit:
            return KeyCreateReply(ok=False, error="rate_limited", retry_after=retry_after)
        status = await self.bucket.status()
        if status.values >= self.config.max_keys:
            return KeyCreateReply(ok=False, error="too_many_keys", retry_after=3600)
        return None

    async def _get(self, id_: str) -> tuple[ApiKey, int] | None:
        entry = await read_entry(self.bucket, encode_key(id_))
        return None if entry is None else (_decode(entry.value), entry.revision)

    async def check(self, request: KeyCheckRequest) -> KeyReply:
        """The key whose hash this is (revoked ones too: the gateway says 401 either way)."""
        if len(request.hash) != 64:
            return KeyReply(ok=False)
        found = await self._get(key_id(request.hash))
        if found is None or not hmac.compare_digest(found[0].hash, request.hash):
            return KeyReply(ok=False)
        return KeyReply(ok=True, key=found[0])

    async def get(self, request: KeyIdRequest) -> KeyReply:
        found = await self._get(request.id)
        return KeyReply(ok=found is not None, key=found[0] if found else None)

    async def list(self, request: KeyListRequest) -> KeyListReply:
        names = await bucket_keys(self.bucket)
        keys = []
        for name in names:
            found = await self._get(name)
            if found is not None and (request.include_revoked or not found[0].revoked):
                keys.append(found[0])
        return KeyListReply(keys=sorted(keys, key=lambda k: k.created_at))

    async def revoke(self, request: KeyIdRequest) -> KeyReply:
        for _ in range(8):
            found = await self._get(request.id)
            if found is None:
                return KeyReply(ok=False)
            key, revision = found
            if key.revoked:
                return KeyReply(ok=True, key=key)
            revoked = msgspec.structs.replace(key, revoked_at=time.time())
            try:
                await self.bucket.update(key.id, _encode(revoked), last=revision)
            except KeyWrongLastSequenceError:
                continue
            return KeyReply(ok=True, key=revoked)
        return KeyReply(ok=False)
