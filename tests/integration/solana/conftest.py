"""What the Solana worker tests share: a client of the gateway with the Solana worker behind it, the
devnet's first fee payer, and a seller whose USDC account exists."""

import httpx
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey


@pytest.fixture
async def gateway(stack, solana_worker):
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        yield http


@pytest.fixture
def fee_payer(solana_devnet) -> Keypair:
    return solana_devnet.fee_payers[0]


@pytest.fixture
def pay_to(solana_devnet) -> Pubkey:
    seller = Keypair().pubkey()
    solana_devnet.fund(seller)  # the seller's USDC account exists, as x402 requires
    return seller
