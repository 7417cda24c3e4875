"""Whitelist: lookups, registration by the operator only, and the enforcing option on verify and settle."""

import asyncio
import uuid

import httpx

from tests.fixtures.product import start_configured_gateway
from tests.integration.foundation.conftest import TEST_NETWORK, payment

from .test_keys import ADMIN, create_key


def paying(pay_to: str) -> dict:
    body = payment(uuid.uuid4().hex)
    body["paymentRequirements"]["payTo"] = pay_to
    body["paymentPayload"]["accepted"]["payTo"] = pay_to
    return body


async def test_registered_and_unknown_addresses(product_stack):
    stack, _ = product_stack
    address = "0xAbC" + uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        registered = await http.post(
            "/admin/whitelist", json={"address": address, "networks": [TEST_NETWORK]}, headers=ADMIN
        )
        found = await http.get(f"/whitelist/{address.lower()}")
        facilitator = await http.get(f"/facilitator/whitelist/{address}")
        unknown = await http.get("/whitelist/0xdeadbeef")
        listed = await http.get("/admin/whitelist", headers=ADMIN)
    assert registered.status_code == 201
    assert found.json() == {"whitelisted": True, "address": address.lower(), "networks": [TEST_NETWORK]}
    assert facilitator.json()["whitelisted"] is True
    assert unknown.json() == {"whitelisted": False, "address": "0xdeadbeef", "networks": []}
    assert address.lower() in [e["address"] for e in listed.json()["entries"]]


async def test_strangers_cannot_register_or_remove(product_stack):
    stack, _ = product_stack
    victim = "victim-" + uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        secret = (await create_key(http, "stranger"))["secret"]
        await http.post("/admin/whitelist", json={"address": victim}, headers=ADMIN)
        tries = [
            await http.post("/admin/whitelist", json={"address": "mine"}, headers={"x-api-key": secret}),
            await http.delete(f"/admin/whitelist/{victim}", headers={"x-api-key": secret}),
            await http.delete(f"/admin/whitelist/{victim}"),
        ]
        still = await http.get(f"/whitelist/{victim}")
        removed = await http.delete(f"/admin/whitelist/{victim}", headers=ADMIN)
    assert [t.status_code for t in tries] == [401, 401, 401]
    assert still.json()["whitelisted"] is True and removed.status_code == 200


async def test_enforcing_option_refuses_unregistered_payto(product_stack):
    stack, scheme = product_stack
    gateway = await start_configured_gateway(stack.nats, require_registered_payto=True)
    pay_to = "payee-" + uuid.uuid4().hex
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
            verify = (await http.post("/verify", json=paying(pay_to))).json()
            settle_body = paying(pay_to)
            settle = (await http.post("/settle", json=settle_body)).json()
            await http.post(
                "/admin/whitelist", json={"address": pay_to, "networks": ["eip155:1"]}, headers=ADMIN
            )
            await asyncio.sleep(0.6)  # the gateway's whitelist cache (0.5 s here)
            other_network = (await http.post("/verify", json=paying(pay_to))).json()
            await http.post(
                "/admin/whitelist", json={"address": pay_to, "networks": [TEST_NETWORK]}, headers=ADMIN
            )
            await asyncio.sleep(0.6)
            allowed = (await http.post("/settle", json=settle_body)).json()
    finally:
        await gateway.stop()
    assert verify["isValid"] is False and verify["invalidReason"] == "address_not_registered"
    assert settle["success"] is False and settle["errorReason"] == "address_not_registered"
    assert settle["transaction"] == ""
    assert other_network["invalidReason"] == "address_not_registered"
    assert allowed["success"] is True  # nothing was claimed by the refused settle
    assert scheme.broadcasts[allowed["transaction"]] == 1
