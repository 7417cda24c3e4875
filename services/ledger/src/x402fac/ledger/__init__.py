"""Settlement ledger, limits and audit on NATS JetStream."""
