"""`x402fac keys` and `x402fac whitelist` against the real ledger, as an operator runs them."""

import asyncio
import os
import sys

import httpx


async def x402fac(stack, *argv: str) -> tuple[int, str]:
    env = {**os.environ, "X402FAC_NATS_URL": stack.nats_url}
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
