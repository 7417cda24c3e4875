"""Secrets never leave the process: RPC URLs carrying API keys (path, query, userinfo) are shown as
scheme + host only, in answers, log lines and metrics, when every node is down or refusing."""

import asyncio
import logging
import os
import socket
import time

import httpx
from aiohttp import web
from eth_account import Account
from solders.hash import Hash
from solders.keypair import Keypair

from tests.fixtures.evm import sign_authorization
from tests.fixtures.nano import nano_offline_body
from tests.fixtures.solana import USDC_MINT, solana_payment_body, solana_requirements, usdc_payment
from tests.fixtures.stack import Stack
from x402fac.telemetry import metrics_text
from x402fac.worker_evm.config import load_config as evm_config
from x402fac.worker_evm.service import build_schemes as evm_schemes
from x402fac.worker_nano.config import load_config as nano_config
from x402fac.worker_nano.service import build_schemes as nano_schemes
from x402fac.worker_solana.config import load_config as solana_config
from x402fac.worker_solana.service import build_schemes as solana_schemes

BASE_SEPOLIA_USDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _refusing_node() -> tuple[web.AppRunner, int]:
    """A node that answers every request 429 (a rate-limited hosted provider)."""
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", lambda _request: web.Response(status=429, text="slow down"))
    runner = web.AppRunner(app)
    await runner.setup()
    port = _closed_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


def _evm_body(pay_to: str) -> dict:
    now = int(time.time())
    info = {"chainId": 84532, "usdc": {"address": BASE_SEPOLIA_USDC}}
    authorization, signature = sign_authorization(
        Account.create(), info, to=pay_to, value=1000, valid_after=now - 60, valid_before=now + 300
    )
    requirements = {
        "scheme": "exact",
        "network": "eip155:84532",
        "amount": "1000",
        "asset": BASE_SEPOLIA_USDC,
        "payTo": pay_to,
        "maxTimeoutSeconds": 30,
        "extra": {"name": "USDC", "version": "2"},
    }
    payload = {"signature": "0x" + signature.hex(), "authorization": authorization}
    return {
        "x402Version": 2,
        "paymentPayload": {"x402Version": 2, "accepted": requirements, "payload": payload},
        "paymentRequirements": requirements,
    }


def _nano_body() -> dict:
    return nano_offline_body(os.urandom(32))


def _solana_body(fee_payer: Keypair) -> dict:
    payer, pay_to = Keypair(), Keypair().pubkey()
    tx = usdc_payment(payer, pay_to, 1000, fee_payer.pubkey(), Hash.default())
    return solana_payment_body(
        solana_requirements(pay_to, 1000, fee_payer.pubkey(), asset=str(USDC_MINT)), tx
    )


async def test_rpc_urls_with_keys_never_leak(caplog):
    caplog.set_level(logging.DEBUG)
    refusing, refusing_port = await _refusing_node()
    dead = f"http://127.0.0.1:{_closed_port()}/v2/SECRETKEY1?api-key=SECRETQUERY1"
    busy = f"http://user:SECRETPASS@127.0.0.1:{refusing_port}/v2/SECRETKEY2?api-key=SECRETQUERY2"
    urls = f"{dead},{busy}"
    fee_payer = Keypair()
    stack = await Stack.start()
    try:
        evm_env = {
            "X402FAC_EVM_84532_RPC_URLS": urls,
            "X402FAC_EVM_SIGNER_KEYS": "0x" + os.urandom(32).hex(),
            "X402FAC_EVM_RPC_TIMEOUT": "2",
        }
        nano_env = {
            "X402FAC_NANO_DEVNET_RPC_URLS": urls,
            "X402FAC_NANO_DEVNET_WORK_THRESHOLD": "0000000000000000",
        }
        solana_env = {
            "X402FAC_SOLANA_DEVNET_RPC_URLS": urls,
            "X402FAC_SOLANA_DEVNET_FEE_PAYER_KEYS": str(fee_payer),
        }
        await stack.start_worker("evm", evm_schemes(evm_config(evm_env)))
        await stack.start_worker("nano", nano_schemes(nano_config(nano_env)))
        await stack.start_worker("solana", solana_schemes(solana_config(solana_env)))
        bodies = [_evm_body(Account.create().address), _nano_body(), _solana_body(fee_payer)]
        answers = []
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
            for body in bodies:
                for path in ("/verify", "/settle"):
                    answer = await http.post(path, json=body)
                    assert answer.status_code == 200, answer.text
                    answers.append(answer.text)
            answers.append((await http.get("/supported")).text)
            answers.append((await http.get("/health")).text)
        await asyncio.sleep(0.2)
        metrics = metrics_text()[0].decode()
    finally:
        await stack.close()
        await refusing.cleanup()
    # the nodes were really asked, and the answers say so by host
    assert sum('"node_unavailable"' in a for a in answers) == 6, answers
    assert f"127.0.0.1:{refusing_port}" in " ".join(answers)
    assert f'host="127.0.0.1:{refusing_port}"' in metrics
    logged = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    for where, text in (("answers", " ".join(answers)), ("logs", logged), ("metrics", metrics)):
        assert "SECRET" not in text, f"a secret leaked into the {where}"
        assert "user:" not in text, f"the userinfo leaked into the {where}"
