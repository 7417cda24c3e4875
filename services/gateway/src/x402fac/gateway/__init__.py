"""HTTP gateway: parses and routes x402 verify/settle requests to network workers over NATS."""
