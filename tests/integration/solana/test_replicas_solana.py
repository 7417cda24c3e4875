"""Two Solana worker replicas sharing one fee payer are safe: a fee payer carries no sequence number
(a transaction is its signature, bounded by its blockhash), so concurrent co-signing never collides."""

import asyncio
from dataclasses import replace

import httpx
from solders.keypair import Keypair

from tests.fixtures.solana import USDC_UNIT, solana_payment_body, solana_requirements, usdc_payment
from tests.fixtures.stack import Stack
from x402fac.worker_solana.config import network_from_devnet
from x402fac.worker_solana.exact import ExactSolanaScheme

PRICE = 10_000
SETTLES = 40


class CountingScheme(ExactSolanaScheme):
    """The real scheme, counting what this replica broadcast."""

    broadcasts = 0

    async def broadcast(self, prepared) -> None:
        await super().broadcast(prepared)
        self.broadcasts += 1


async def test_two_replicas_one_fee_payer(solana_devnet):
    network = network_from_devnet(solana_devnet.info())
    fee_payer = network.fee_payers[0]
    network = replace(network, fee_payers=(fee_payer,))
    stack = await Stack.start()
    try:
        schemes = [CountingScheme([network], confirm_poll=0.05) for _ in range(2)]
        for scheme in schemes:
            await stack.start_worker("solana", [scheme])
        other = await stack.add_gateway()
        seller = Keypair().pubkey()
        solana_devnet.fund(seller)
        payers = [solana_devnet.new_payer(10 * USDC_UNIT) for _ in range(4)]
        fee_payer_lamports = solana_devnet.chain.svm.get_balance(fee_payer.pubkey())
        bodies = [
            solana_payment_body(
                solana_requirements(seller, PRICE, fee_payer.pubkey()),
                usdc_payment(
                    payers[i % 4], seller, PRICE, fee_payer.pubkey(), solana_devnet.chain.latest_blockhash
                ),
            )
            for i in range(SETTLES)
        ]
        await asyncio.sleep(0.6)  # both gateways see the family live
        async with httpx.AsyncClient(timeout=60) as http:
            answers = await asyncio.gather(
                *(
                    http.post((stack.gateway_url if i % 2 else other.url) + "/settle", json=b)
                    for i, b in enumerate(bodies)
                )
            )
        results = [a.json() for a in answers]
        assert [r.get("errorReason") for r in results if not r["success"]] == []
        assert len({r["transaction"] for r in results}) == SETTLES
        assert solana_devnet.usdc_balance(seller) == SETTLES * PRICE
        # both replicas settled, with the one fee payer, which paid one fee per settle
        assert all(scheme.broadcasts > 0 for scheme in schemes), [s.broadcasts for s in schemes]
        assert sum(scheme.broadcasts for scheme in schemes) == SETTLES
        spent = fee_payer_lamports - solana_devnet.chain.svm.get_balance(fee_payer.pubkey())
        assert spent >= SETTLES * 5_000 and spent <= SETTLES * 110_000
    finally:
        await stack.close()
