"""EVM network worker: the x402 `exact` scheme over EIP-3009 `transferWithAuthorization`."""
