"""The x402fac command: run the stack, single services, devnet tools."""
