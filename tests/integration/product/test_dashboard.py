"""The dashboard as a browser loads it: one page, its own assets (nothing from another origin), the
JSON it draws from, and the status panel following the workers.

Playwright is not in the lock (and no chromium here), so this drives the page's endpoints with httpx
exactly as app.js calls them; docs/product.md says what a browser test would add.
"""

import asyncio
import re
import uuid

import httpx

from tests.fixtures.product import start_configured_gateway
from tests.fixtures.stack import Stack
from tests.integration.foundation.conftest import TEST_NETWORK, LedgerBookScheme, payment


async def test_page_and_assets_are_local(product_stack):
    stack, _ = product_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        page = await http.get("/dashboard")
        references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assets = {ref: await http.get(ref) for ref in references if ref.startswith("/")}
        script = await http.get("/dashboard/static/app.js")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert all(ref.startswith(("/", "#")) for ref in references), references  # no CDN, no other origin
    assert assets and all(answer.status_code == 200 for answer in assets.values())
    assert "https://" not in script.text and "http://" not in script.text.replace(
        "http://www.w3.org/2000/svg", ""
    )
    # accessible: every input has a label, the page has a language and a skip link
    inputs = re.findall(r'<input id="([^"]+)"', page.text)
    assert inputs and all(f'<label for="{name}"' in page.text for name in inputs)
    assert '<html lang="en">' in page.text and 'href="#main"' in page.text


async def test_self_service_key_signs_in_and_sees_its_settlements(product_stack):
    stack, _ = product_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        created = await http.post("/dashboard/api/keys", json={"name": "dashboard user"})
        assert created.status_code == 201
        bearer = {"Authorization": f"Bearer {created.json()['secret']}"}
        settled = await http.post("/settle", json=payment(uuid.uuid4().hex), headers=bearer)
        assert settled.json()["success"] is True
        me = (await http.get("/dashboard/api/me", headers=bearer)).json()
        for _ in range(100):
            recent = (await http.get("/dashboard/api/settlements", headers=bearer)).json()["settlements"]
            if recent:
                break
            await asyncio.sleep(0.05)
        usage = (await http.get("/dashboard/api/usage", headers=bearer)).json()
    assert me["name"] == "dashboard user" and me["origin"] == "self-service" and "hash" not in me
    assert recent[0]["transaction"] == settled.json()["transaction"] and recent[0]["network"] == TEST_NETWORK
    assert recent[0]["explorer"] == ""  # a test network has no explorer
    assert len(usage["periods"]) == 48 and usage["series"]["settle"][-1] >= 1


async def test_status_panel_follows_the_workers():
    stack = await Stack.start()
    gateway = await start_configured_gateway(stack.nats)
    try:
        worker = await stack.start_worker("evm", [LedgerBookScheme()])
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
            await http.post("/settle", json=payment(uuid.uuid4().hex))
            up = (await http.get("/dashboard/api/status")).json()
            await stack.stop_worker(worker)
            for _ in range(100):
                down = (await http.get("/dashboard/api/status")).json()
                if not down["families"]["evm"]:
                    break
                await asyncio.sleep(0.1)
    finally:
        await gateway.stop()
        await stack.close()
    row = next(n for n in up["networks"] if n["network"] == TEST_NETWORK)
    assert up["families"]["evm"] is True and row["workers"] == 1 and row["settling"] == 1
    assert down["families"]["evm"] is False
    assert not any(n["network"] == TEST_NETWORK for n in down["networks"])
    assert {n["family"] for n in down["networks"] if n["workers"] == 0} >= {"evm", "nano", "solana"}
