"""API keys through the real stack: both header forms, 401 for unknown and revoked keys in the one
JSON error shape, only hashes in the ledger's bucket, per-key limits, and strangers' abuse."""

import asyncio
import hashlib
import uuid

import httpx

from tests.fixtures.product import ADMIN_TOKEN, start_configured_gateway
from tests.integration.foundation.conftest import payment
from x402fac.bus import subjects

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def create_key(http: httpx.AsyncClient, name: str = "test", rate: int = 0) -> dict:
    created = await http.post("/admin/keys", json={"name": name, "ratePerMinute": rate}, headers=ADMIN)
    assert created.status_code == 201, created.text
    return created.json()


async def test_both_header_forms_are_accepted(product_stack):
    stack, _ = product_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        secret = (await create_key(http))["secret"]
        assert secret.startswith("x402n_")
        by_header = await http.post("/verify", json=payment(uuid.uuid4().hex), headers={"x-api-key": secret})
        by_bearer = await http.post(
            "/verify", json=payment(uuid.uuid4().hex), headers={"Authorization": f"Bearer {secret}"}
        )
        anonymous = await http.post("/verify", json=payment(uuid.uuid4().hex))
    assert by_header.status_code == by_bearer.status_code == anonymous.status_code == 200
    assert by_header.json()["isValid"] is True and by_bearer.json()["isValid"] is True


async def test_unknown_malformed_and_revoked_keys_are_401_in_the_error_shape(product_stack):
    stack, _ = product_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        created = await create_key(http, "to-revoke")
        secret, key_id = created["secret"], created["key"]["id"]
        ok = await http.post("/settle", json=payment(uuid.uuid4().hex), headers={"x-api-key": secret})
        assert ok.json()["success"] is True
        revoked = await http.post(f"/admin/keys/{key_id}/revoke", headers=ADMIN)
        assert revoked.status_code == 200 and revoked.json()["key"]["revokedAt"]
        unknown = "x402n_" + "A" * 43
        answers = {}
        for name, headers in {
            "unknown": {"x-api-key": unknown},
            "malformed": {"x-api-key": "hello"},
            "empty": {"x-api-key": ""},
            "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
        }.items():
            answers[name] = await http.post("/settle", json=payment(uuid.uuid4().hex), headers=headers)
        # the gateway caches a key for api_key_cache_seconds (0.5 s here): the revocation shows by then
        for _ in range(50):
            answers["revoked"] = await http.post(
                "/verify", json=payment(uuid.uuid4().hex), headers={"x-api-key": secret}
            )
            if answers["revoked"].status_code == 401:
                break
            await asyncio.sleep(0.1)
    for name, answer in answers.items():
        assert answer.status_code == 401, name
        body = answer.json()
        assert set(body) == {"error", "message", "status"} and body["status"] == 401, name
    assert "revoked" in answers["revoked"].json()["message"]


async def test_the_ledger_holds_the_hash_never_the_key(product_stack):
    stack, _ = product_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        created = await create_key(http, "hash-only")
        listed = (await http.get("/admin/keys", headers=ADMIN)).json()["keys"]
    secret = created["secret"]
    kv = await stack.nc.jetstream().key_value(subjects.KEYS_BUCKET)
    raw = b"".join([(await kv.get(name)).value for name in await kv.keys()])
    assert secret.encode() not in raw and secret[len("x402n_") + 4 :].encode() not in raw
    assert hashlib.sha256(secret.encode()).hexdigest().encode() in raw
    mine = next(k for k in listed if k["id"] == created["key"]["id"])
    assert "hash" not in mine and mine["prefix"] == secret[:10]


async def test_per_key_rate_limit(product_stack):
    stack, _ = product_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        secret = (await create_key(http, "limited", rate=3))["secret"]
        codes = [
            (
                await http.post("/verify", json=payment(uuid.uuid4().hex), headers={"x-api-key": secret})
            ).status_code
            for _ in range(5)
        ]
        other = await http.post("/verify", json=payment(uuid.uuid4().hex))
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    assert other.status_code == 200  # the key's limit is its own


async def test_guessing_keys_gets_429_after_the_bad_key_limit(product_stack):
    stack, _ = product_stack
    gateway = await start_configured_gateway(stack.nats, bad_key_limit_per_minute=5, trust_proxy=True)
    stranger = {"X-Forwarded-For": f"192.0.2.{uuid.uuid4().int % 250}"}  # counted per client IP
    try:
        async with httpx.AsyncClient(base_url=gateway.url, headers=stranger) as http:
            codes = []
            for _ in range(8):
                guess = "x402n_" + uuid.uuid4().hex + uuid.uuid4().hex[:11]
                codes.append(
                    (await http.post("/verify", json=payment("g"), headers={"x-api-key": guess})).status_code
                )
            answer = await http.post("/verify", json=payment("g"), headers={"x-api-key": "x402n_nope"})
    finally:
        await gateway.stop()
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    assert answer.status_code == 429 and answer.headers["Retry-After"]


async def test_required_keys_refuse_anonymous_use(product_stack):
    stack, _ = product_stack
    gateway = await start_configured_gateway(stack.nats, require_api_key=True)
    try:
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            secret = (await create_key(http, "required"))["secret"]
            anonymous = await http.post("/verify", json=payment(uuid.uuid4().hex))
            keyed = await http.post("/verify", json=payment(uuid.uuid4().hex), headers={"x-api-key": secret})
    finally:
        await gateway.stop()
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthorized"
    assert keyed.status_code == 200


async def test_admin_api_needs_the_admin_token(product_stack):
    stack, _ = product_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        secret = (await create_key(http, "not-admin"))["secret"]
        attempts = [
            await http.get("/admin/keys"),
            await http.get("/admin/keys", headers={"Authorization": f"Bearer {secret}"}),
            await http.post("/admin/keys", json={"name": "x"}, headers={"x-admin-token": "wrong"}),
            await http.post("/admin/whitelist", json={"address": "0xabc"}, headers={"x-api-key": secret}),
        ]
    assert [a.status_code for a in attempts] == [401] * 4
    gateway = await start_configured_gateway(stack.nats, admin_token="")
    try:
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            disabled = await http.get("/admin/keys", headers={"x-admin-token": ""})
    finally:
        await gateway.stop()
    assert disabled.status_code == 401 and "disabled" in disabled.json()["message"]


async def test_self_service_keys_are_limited_per_ip(product_stack):
    stack, _ = product_stack
    gateway = await start_configured_gateway(stack.nats, trust_proxy=True)
    try:
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            ip = {"X-Forwarded-For": f"198.51.100.{uuid.uuid4().int % 250}"}
            codes = [
                (await http.post("/dashboard/api/keys", json={"name": f"k{i}"}, headers=ip)).status_code
                for i in range(7)
            ]
            elsewhere = await http.post(
                "/dashboard/api/keys", json={"name": "other"}, headers={"X-Forwarded-For": "203.0.113.9"}
            )
            nameless = await http.post(
                "/dashboard/api/keys", json={"name": ""}, headers={"X-Forwarded-For": "203.0.113.10"}
            )
    finally:
        await gateway.stop()
    assert codes[:5] == [201] * 5 and codes[5:] == [429, 429]  # default: 5 keys per IP and hour
    assert elsewhere.status_code == 201 and elsewhere.json()["key"]["origin"] == "self-service"
    assert elsewhere.json()["key"]["ratePerMinute"] == 600  # self-service keys carry a limit
    assert nameless.status_code == 400
