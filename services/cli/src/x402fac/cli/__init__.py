"""The x402fac command line."""
