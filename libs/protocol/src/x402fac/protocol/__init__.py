"""x402 wire types, networks, reason codes, header codecs."""
