"""`x402fac demo`: a real payment on each devnet through the test stack, with the official x402 clients.

Each test writes the devnet's info file (as `x402fac run` does) into its own data dir, with a fresh
funded payer of its own so no other test's accounts move, and runs the demo against the stack's gateway.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.evm import funded_payer, serve_evm, token_balance
from tests.fixtures.evm_wallets import code_of, deployments_of
from tests.fixtures.nano import XNO
from tests.fixtures.permit2 import TOKEN_UNIT, key_of, permit2_payer
from tests.fixtures.solana import USDC_UNIT
from tests.fixtures.upto import serve_evm_schemes
from x402fac.cli.demo import DemoError, DemoResult, run_demo
from x402fac.devnet.evm import ERC20_ADDRESS
from x402fac.devnet.evm.rpc import DevnetRpc
from x402fac.nano import xno_to_raw


def write_devnet(data_dir: Path, family: str, info: dict[str, Any], payer: dict[str, str]) -> None:
    (data_dir / f"devnet-{family}.json").write_text(json.dumps({**info, "payers": [payer]}))


async def demo(
    stack: Any, network: str, data_dir: Path, method: str | None = None
) -> tuple[DemoResult, list[str]]:
    lines: list[str] = []
    result = await run_demo(network, stack.gateway_url, data_dir=data_dir, say=lines.append, method=method)
    return result, lines


async def test_demo_pays_on_the_nano_devnet(stack, nano_worker, nano_devnet, nano_funded_account, tmp_path):
    payer = await nano_funded_account(XNO)
    write_devnet(
        tmp_path,
        "nano",
        nano_devnet.info,
        {"account": payer.address, "publicKey": payer.public_key.hex(), "privateKey": payer.secret_key.hex()},
    )

    result, lines = await demo(stack, "nano", tmp_path)

    assert result.succeeded, "\n".join(lines)
    assert (result.network, result.payer, result.status) == ("nano:devnet", payer.address, 200)
    assert result.price == xno_to_raw("0.001")
    assert (result.before, result.after) == (0, result.price)
    assert len(result.transaction) == 64
    assert lines[-1].startswith("OK:")


async def test_demo_pays_on_the_evm_devnet(stack, evm_devnet, tmp_path):
    payer = await funded_payer(evm_devnet, 5 * 10**6)
    write_devnet(
        tmp_path, "evm", evm_devnet, {"address": payer.address, "privateKey": "0x" + bytes(payer.key).hex()}
    )

    async with serve_evm(stack, evm_devnet):
        result, lines = await demo(stack, "eip155:84532", tmp_path)

    assert result.succeeded, "\n".join(lines)
    assert (result.payer, result.status, result.price) == (payer.address, 200, 1_000)
    assert (result.before, result.after) == (0, 1_000)
    assert result.transaction.startswith("0x")


async def test_demo_pays_by_permit2_on_the_evm_devnet(stack, evm_devnet, tmp_path):
    payer = await permit2_payer(evm_devnet, ERC20_ADDRESS, approved=False)
    write_devnet(tmp_path, "evm", evm_devnet, {"address": payer.address, "privateKey": key_of(payer)})

    async with serve_evm(stack, evm_devnet, allowed_assets=frozenset({ERC20_ADDRESS.lower()})):
        result, lines = await demo(stack, "evm", tmp_path, method="permit2")

    assert result.succeeded, "\n".join(lines)
    assert (result.payer, result.status, result.price) == (payer.address, 200, TOKEN_UNIT // 1000)
    assert (result.before, result.after) == (0, TOKEN_UNIT // 1000)
    assert any("approves Permit2" in line for line in lines)
    assert (
        await token_balance(evm_devnet, ERC20_ADDRESS, payer.address) == 10 * TOKEN_UNIT - TOKEN_UNIT // 1000
    )
    async with DevnetRpc(evm_devnet["rpcUrl"]) as rpc:
        receipt = await rpc.call("eth_getTransactionReceipt", result.transaction)
    assert receipt["to"].lower() == evm_devnet["permit2"]["exactProxy"].lower()


async def test_demo_refuses_an_unknown_method(stack, tmp_path):
    with pytest.raises(DemoError, match="no method 'permit2' on nano"):
        await run_demo("nano", stack.gateway_url, data_dir=tmp_path, say=lambda _: None, method="permit2")


async def test_demo_pays_on_the_solana_devnet(stack, solana_worker, solana_devnet, tmp_path):
    payer = solana_devnet.new_payer(5 * USDC_UNIT)
    write_devnet(
        tmp_path, "solana", solana_devnet.info(), {"address": str(payer.pubkey()), "secret": str(payer)}
    )

    result, lines = await demo(stack, "solana", tmp_path)

    assert result.succeeded, "\n".join(lines)
    assert (result.payer, result.status, result.price) == (str(payer.pubkey()), 200, 1_000)
    assert (result.before, result.after) == (0, 1_000)
    assert solana_devnet.usdc_balance(payer.pubkey()) == 5 * USDC_UNIT - 1_000


async def test_demo_erc6492_pays_from_a_wallet_it_deploys(stack, evm_devnet, tmp_path):
    write_devnet(tmp_path, "evm", evm_devnet, evm_devnet["payers"][0])

    async with serve_evm(stack, evm_devnet):
        lines: list[str] = []
        result = await run_demo(
            "evm", stack.gateway_url, data_dir=tmp_path, say=lines.append, method="erc6492"
        )

    assert result.succeeded, "\n".join(lines)
    assert (result.status, result.price, result.before, result.after) == (200, 1_000, 0, 1_000)
    assert result.payer != evm_devnet["payers"][0]["address"]  # the wallet, not the funded EOA
    assert await code_of(evm_devnet, result.payer) != "0x"
    assert await deployments_of(evm_devnet, result.payer) == 1
    assert any("is now deployed" in line for line in lines), lines


async def test_demo_upto_charges_part_of_the_authorized_maximum(stack, evm_devnet, tmp_path):
    payer = await funded_payer(evm_devnet, 5 * 10**6)  # no Permit2 approval yet: the demo makes it
    write_devnet(
        tmp_path, "evm", evm_devnet, {"address": payer.address, "privateKey": "0x" + bytes(payer.key).hex()}
    )

    async with serve_evm_schemes(stack, evm_devnet):
        result, lines = await demo(stack, "evm", tmp_path, method="upto")

    assert result.succeeded, "\n".join(lines)
    assert (result.payer, result.status) == (payer.address, 200)
    assert (result.price, result.before, result.after) == (400, 0, 400)  # 40% of the $0.001 maximum
    assert any("approves Permit2" in line for line in lines), lines
