"""EVM devnet: anvil (npm binary) answering as Base Sepolia (chain id 84532) with an EIP-3009 USDC.

Emulates: Base Sepolia's chain id, USDC at its real address 0x036CbD53842c5426634e7929541eC2318f3dCF7e
(our own FiatTokenV2_2-compatible contract: EIP-712 domain "USDC"/"2", both transferWithAuthorization
overloads, receive/cancel authorization, ERC-1271 signers, USDC's revert strings), EIP-1559 fees,
automine or fixed block times (`--block-time`).
Does not emulate: Base's L1 data fee, reorgs, finality lag, USDC's blacklist/pause/upgrade roles,
EIP-2612 permit, Permit2, ERC-6492 counterfactual wallets.

Keys are generated at every start (never anvil's well-known ones) and written with the RPC URL to
`DATA_DIR/devnet-evm.json`: a minter (the faucet), facilitator signers (ETH for gas) and payers
(ETH + USDC).
"""

from x402fac.devnet.evm.faucet import faucet
from x402fac.devnet.evm.node import (
    CHAIN_ID,
    INFO_FILE,
    NETWORK,
    USDC_ADDRESS,
    USDC_DECIMALS,
    USDC_NAME,
    USDC_VERSION,
    EvmDevnet,
)

__all__ = [
    "CHAIN_ID",
    "INFO_FILE",
    "NETWORK",
    "USDC_ADDRESS",
    "USDC_DECIMALS",
    "USDC_NAME",
    "USDC_VERSION",
    "EvmDevnet",
    "faucet",
]
