"""The dashboard in a real headless browser (Debian chromium driven by Playwright; no browser is ever
downloaded): keyboard only, create a key, sign in with it, see the usage chart and the settlement list
filled from a real settle on the Nano devnet, see the status panel change when the worker goes away;
no console errors.
A screenshot is kept in $X402FAC_TEST_ARTIFACTS (default .x402fac/test-artifacts).

Skipped with the reason when chromium is missing, except under CI=true (tests/ops/tools.need)."""

import asyncio
import os
from pathlib import Path

import httpx

from tests.fixtures.nano import XNO, NanoAccount, nano_payment_body, nano_requirements, nano_send_block
from tests.fixtures.product import start_configured_gateway
from tests.fixtures.stack import Stack
from tests.ops.tools import need
from x402fac.nano import parse_threshold
from x402fac.worker_nano.config import NanoNetworkConfig
from x402fac.worker_nano.exact import ExactNanoScheme

NETWORK = "nano:devnet"
PRICE = 10**27  # 0.001 XNO
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
WAIT_MS = 20_000  # the status panel refreshes every 5 s


async def focused(page) -> str:
    return await page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()")


async def test_dashboard_in_a_browser_keyboard_only(nano_devnet, nano_rpc, nano_funded_account):
    executable = need("chromium", "chromium")
    from playwright.async_api import async_playwright

    stack = await Stack.start()
    gateway = await start_configured_gateway(stack.nats)
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
    problems: list[str] = []
    try:
        threshold = parse_threshold(nano_devnet.info["workThresholds"]["send"])
        scheme = ExactNanoScheme(
            [NanoNetworkConfig(NETWORK, (nano_devnet.rpc_url,), threshold)], confirm_poll=0.02
        )
        worker = await stack.start_worker("nano", [scheme])
        page = await browser.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        await page.goto(gateway.url + "/dashboard")
        row = page.locator("#status-table tbody tr", has_text=NETWORK)
        await row.wait_for(timeout=WAIT_MS)
        assert (await row.locator("td").nth(1).inner_text()) == "1"  # one worker alive

        # Keyboard only: skip link, the key's name, Enter creates it; on to sign-in, Enter signs in.
        await page.keyboard.press("Tab")
        assert await focused(page) == "Skip to content"
        await page.keyboard.press("Tab")
        assert await focused(page) == "create-name"
        await page.keyboard.type("browser user")
        await page.keyboard.press("Enter")
        secret_box = page.locator("#created-secret")
        await page.locator("#created").wait_for(state="visible", timeout=WAIT_MS)
        secret = (await secret_box.inner_text()).strip()
        assert secret.startswith("x402n_")

        # A real Nano payment settled with that key, counted by the ledger before signing in.
        payer, pay_to = await nano_funded_account(XNO), NanoAccount.generate()
        block = await nano_send_block(nano_rpc, nano_devnet, payer, pay_to.public_key, PRICE)
        body = nano_payment_body(nano_requirements(nano_devnet, pay_to.address, PRICE), block.to_json())
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
            bearer = {"x-api-key": secret}
            settled = (await http.post("/settle", json=body, headers=bearer)).json()
            assert settled["success"] is True
            for _ in range(200):
                usage = (await http.get("/dashboard/api/usage", headers=bearer)).json()
                recent = (await http.get("/dashboard/api/settlements", headers=bearer)).json()
                if usage["totals"]["settled"] and recent["settlements"]:
                    break
                await asyncio.sleep(0.05)

        await page.keyboard.press("Tab")  # the Create key button
        await page.keyboard.press("Tab")
        assert await focused(page) == "signin-key"
        assert await page.locator("#signin-key").input_value() == secret  # filled in for the user
        await page.keyboard.press("Enter")
        await page.locator("#usage").wait_for(state="visible", timeout=WAIT_MS)
        assert "Signed in as browser user" in await page.locator("#signin-message").inner_text()
        chart = page.locator("#chart")
        assert "1 settled" in (await chart.get_attribute("aria-label"))
        assert await chart.locator("svg polyline[data-series='settled']").count() == 1
        settlements = page.locator("#settlements-table tbody")
        assert settled["transaction"] in await settlements.inner_text()
        assert "settled" in await settlements.inner_text()

        artifacts = Path(os.environ.get("X402FAC_TEST_ARTIFACTS", ".x402fac/test-artifacts"))
        artifacts.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
        assert (artifacts / "dashboard.png").stat().st_size > 0

        # The worker goes away: the status panel says so on its next refresh.
        await stack.stop_worker(worker)
        gone = page.locator("#status-table tbody tr", has_text="nano (no worker)")
        await gone.wait_for(timeout=WAIT_MS)
        assert await page.locator("#status-table tbody tr", has_text=NETWORK).count() == 0
    finally:
        await browser.close()
        await playwright.stop()
        await gateway.stop()
        await stack.close()
    assert problems == []  # no console errors
