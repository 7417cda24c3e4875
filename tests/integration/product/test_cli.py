"""`x402fac keys`, `x402fac whitelist` and `x402fac discovery` against the real ledger, as an
operator runs them."""

import asyncio
import json
import os
import sys
import uuid

import httpx

from tests.integration.foundation.conftest import TEST_NETWORK


async def x402fac(stack, *argv: str) -> tuple[int, str]:
    env = {**os.environ, **stack.nats.env("admin")}  # the operator's own bus user
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "x402fac.cli",
        *argv,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode, output.decode()


async def test_keys_create_list_revoke(product_stack):
    stack, _ = product_stack
    code, created = await x402fac(stack, "keys", "create", "--name", "from the cli", "--rate", "7")
    assert code == 0, created
    fields = dict(line.split(None, 1) for line in created.splitlines() if line and not line.startswith("("))
    secret, key_id = fields["key"], fields["id"]
    assert secret.startswith("x402n_") and fields["rate"] == "7/min"
    code, listed = await x402fac(stack, "keys", "list")
    assert code == 0 and key_id in listed and secret not in listed
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        me = await http.get("/dashboard/api/me", headers={"x-api-key": secret})
        assert me.json()["origin"] == "cli" and me.json()["ratePerMinute"] == 7
        code, revoked = await x402fac(stack, "keys", "revoke", key_id)
        assert code == 0, revoked
        for _ in range(50):
            after = await http.get("/dashboard/api/me", headers={"x-api-key": secret})
            if after.status_code == 401:
                break
            await asyncio.sleep(0.1)
    assert after.status_code == 401
    code, missing = await x402fac(stack, "keys", "revoke", "0000000000000000")
    assert code != 0 and "no key" in missing


async def test_whitelist_add_check_remove(product_stack):
    stack, _ = product_stack
    address = "nano_3cliaddress"
    assert (await x402fac(stack, "whitelist", "add", address, "--network", "nano:mainnet"))[0] == 0
    code, checked = await x402fac(stack, "whitelist", "check", address)
    assert code == 0 and '"whitelisted": true' in checked and "nano:mainnet" in checked
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        assert (await http.get(f"/whitelist/{address}")).json()["networks"] == ["nano:mainnet"]
    assert (await x402fac(stack, "whitelist", "remove", address))[0] == 0
    code, checked = await x402fac(stack, "whitelist", "check", address)
    assert '"whitelisted": false' in checked


async def test_discovery_add_list_remove(product_stack):
    stack, _ = product_stack
    pay_to, other = "payee-" + uuid.uuid4().hex, "payee-" + uuid.uuid4().hex
    url = f"https://api.example.com/cli/{uuid.uuid4().hex}"
    code, added = await x402fac(
        stack,
        *("discovery", "add", url + "?q=1", "--network", TEST_NETWORK, "--pay-to", pay_to),
        *("--amount", "1000", "--asset", "TEST", "--method", "GET", "--description", "From the CLI"),
    )
    assert code == 0 and f"listed: {url} for {pay_to}" in added, added
    accepts = [{"scheme": "exact", "network": TEST_NETWORK, "amount": "5", "payTo": other, "asset": "TEST"}]
    code, added = await x402fac(stack, "discovery", "add", url, "--accepts", json.dumps(accepts))
    assert code == 0 and f"listed: {url} for {other}" in added, added
    code, listed = await x402fac(stack, "discovery", "list", "--pay-to", pay_to, "--json")
    assert code == 0, listed
    [entry] = json.loads(listed[listed.index("{") :])["entries"]  # after any log line on stderr
    assert entry["resource"] == url and entry["origin"] == "operator" and entry["method"] == "GET"
    assert entry["accepts"][0]["amount"] == "1000" and entry["accepts"][0]["payTo"] == pay_to
    code, table = await x402fac(stack, "discovery", "list", "--query", url.rsplit("/", 1)[1])
    assert code == 0 and table.count(url) == 2 and "2 shown of 2" in table, table
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        page = (await http.get("/discovery/resources", params={"payTo": pay_to})).json()
        assert [item["description"] for item in page["items"]] == ["From the CLI"]
        code, removed = await x402fac(stack, "discovery", "remove", url, "--pay-to", pay_to)
        assert code == 0 and f"removed: {url}" in removed, removed
        assert (await http.get("/discovery/resources", params={"payTo": pay_to})).json()["items"] == []
        assert len((await http.get("/discovery/resources", params={"payTo": other})).json()["items"]) == 1
    code, missing = await x402fac(stack, "discovery", "remove", url, "--pay-to", pay_to)
    assert code != 0 and "is not listed" in missing
    code, refused = await x402fac(stack, "discovery", "add", "ftp://example.com/x", "--accepts", "[]")
    assert code != 0 and "http(s)" in refused
    code, refused = await x402fac(stack, "discovery", "add", url, "--network", TEST_NETWORK)
    assert code != 0 and "--accepts" in refused
