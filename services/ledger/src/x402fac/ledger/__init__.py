"""Settlement ledger on NATS JetStream: one settlement per payment, payer limits, audit stream."""
