"""EVM network worker (EIP-3009)."""
