"""EVM devnet: anvil (npm binary) answering as Base Sepolia (chain id 84532) with an EIP-3009 USDC.

Emulates: Base Sepolia's chain id, USDC at its real address 0x036CbD53842c5426634e7929541eC2318f3dCF7e
(our own FiatTokenV2_2-compatible contract: EIP-712 domain "USDC"/"2", both transferWithAuthorization
overloads, receive/cancel authorization, ERC-1271 signers, USDC's revert strings), Permit2 at
0x000000000022D473030F116dDEE9F6B43aC78BA3 and the x402 exact and upto Permit2 proxies at the official
SDKs' addresses (our own implementations of their interfaces and semantics: SignatureTransfer with
witness and nonce bitmap, single-token AllowanceTransfer, `settle`/`settleWithPermit`), a plain ERC-20
and an EIP-2612 token (devnet addresses, `tokens` in the info file), ERC-6492 counterfactual wallets
(a CREATE2 wallet factory, and Multicall3's `aggregate3` at its canonical address: `wallets`),
EIP-1559 fees, automine or fixed block times (`--block-time`).
Does not emulate: Base's L1 data fee, reorgs, finality lag, USDC's blacklist/pause/upgrade roles,
Permit2's batch transfers and lockdown.

Keys are generated at every start (never anvil's well-known ones) and written with the RPC URL to
`DATA_DIR/devnet-evm.json`: a minter (the faucet), facilitator signers (ETH for gas) and payers
(ETH + USDC + each devnet token; no approvals).
"""

from x402fac.devnet.evm.faucet import approve, faucet
from x402fac.devnet.evm.node import (
    CHAIN_ID,
    EIP2612_ADDRESS,
    ERC20_ADDRESS,
    EXACT_PERMIT2_PROXY_ADDRESS,
    INFO_FILE,
    NETWORK,
    PERMIT2_ADDRESS,
    UPTO_PERMIT2_PROXY_ADDRESS,
    USDC_ADDRESS,
    USDC_DECIMALS,
    USDC_NAME,
    USDC_VERSION,
    EvmDevnet,
)

__all__ = [
    "CHAIN_ID",
    "EIP2612_ADDRESS",
    "ERC20_ADDRESS",
    "EXACT_PERMIT2_PROXY_ADDRESS",
    "INFO_FILE",
    "NETWORK",
    "PERMIT2_ADDRESS",
    "UPTO_PERMIT2_PROXY_ADDRESS",
    "USDC_ADDRESS",
    "USDC_DECIMALS",
    "USDC_NAME",
    "USDC_VERSION",
    "EvmDevnet",
    "approve",
    "faucet",
]
