"""Local devnets: Nano node, anvil + EIP-3009 USDC, LiteSVM Solana RPC."""
