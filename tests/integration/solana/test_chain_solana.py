"""The Solana worker's node client against the devnet: simulations asked together travel in one HTTP
request, and each caller still gets its own verdict (a node error raised to its caller only)."""

import asyncio
from collections import Counter
from contextlib import contextmanager

from solders.keypair import Keypair

from tests.fixtures.solana import USDC_UNIT, usdc_payment
from x402fac.rpc import RpcError
from x402fac.worker_solana.chain import SolanaClient
from x402fac.worker_solana.runtime import is_insufficient_funds


@contextmanager
def requests_by_http_request(solana_devnet):
    """JSON-RPC methods the devnet served, by the HTTP request that carried them (the devnet serves
    each HTTP request in a task of its own)."""
    served: dict[int, Counter[str]] = {}
    original = solana_devnet.rpc.call

    def counting(request):
        served.setdefault(id(asyncio.current_task()), Counter())[request.get("method")] += 1
        return original(request)

    solana_devnet.rpc.call = counting
    try:
        yield served
    finally:
        del solana_devnet.rpc.call


async def test_simulations_asked_together_share_one_request_and_keep_their_verdicts(solana_devnet):
    chain = solana_devnet.chain
    fee_payer = solana_devnet.fee_payers[0].pubkey()
    payer, pay_to = solana_devnet.new_payer(100 * USDC_UNIT), Keypair().pubkey()
    solana_devnet.fund(pay_to)
    paying = usdc_payment(payer, pay_to, 10_000, fee_payer, chain.latest_blockhash)
    overdrawn = usdc_payment(payer, pay_to, 101 * USDC_UNIT, fee_payer, chain.latest_blockhash)
    client = SolanaClient([solana_devnet.url])
    try:
        with requests_by_http_request(solana_devnet) as served:
            results = await asyncio.gather(
                client.simulate(bytes(paying)),
                client.simulate(bytes(overdrawn)),
                client.simulate(b"\x01not a transaction"),
                return_exceptions=True,
            )
    finally:
        await client.close()
    assert list(served.values()) == [Counter({"simulateTransaction": 3})]
    ok, short, garbage = results
    assert isinstance(ok, dict) and ok["err"] is None
    assert isinstance(short, dict) and is_insufficient_funds(short["err"])
    assert isinstance(garbage, RpcError) and garbage.method == "simulateTransaction"
