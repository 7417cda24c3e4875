"""End to end with the TypeScript client: `@x402/evm` 2.27 (as published, a viem account; installed in
bench/ by `npm ci` from bench/package-lock.json, the benchmark's references) pays by Permit2 a resource
served by the Python SDK's middleware with our gateway as facilitator; the chain is read back."""

from __future__ import annotations

import asyncio
import json

from eth_account import Account

from bench.targets import ensure_ts_installed
from tests.fixtures.evm import serve_evm
from tests.fixtures.permit2 import (
    assert_paid_by_permit2,
    facilitator_transactions,
    permit2_payer,
    permit2_resource,
)
from tests.fixtures.ts_client import ts_pay
from x402fac.devnet.evm import ERC20_ADDRESS

TOKENS = frozenset({ERC20_ADDRESS.lower()})


async def test_ts_client_pays_a_plain_erc20_by_permit2(stack, evm_devnet) -> None:
    await asyncio.to_thread(ensure_ts_installed)
    info = evm_devnet
    pay_to = Account.create().address
    payer = await permit2_payer(info, ERC20_ADDRESS)
    resource = permit2_resource(stack.gateway_url, info, ERC20_ADDRESS, pay_to)
    async with serve_evm(stack, info, allowed_assets=TOKENS), resource:
        before = await facilitator_transactions(info)
        result = await ts_pay(f"{resource.url}/data", payer, ERC20_ADDRESS)
    assert result["status"] == 200, result
    assert json.loads(result["body"]) == {"data": 42}
    assert result["accepted"]["extra"]["assetTransferMethod"] == "permit2"
    settlement = result["paymentResponse"]
    assert settlement["success"] is True and settlement["payer"] == payer.address
    await assert_paid_by_permit2(info, settlement["transaction"], payer, ERC20_ADDRESS, pay_to)
    assert await facilitator_transactions(info) == before + 1
