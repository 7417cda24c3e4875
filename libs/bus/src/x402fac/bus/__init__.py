"""NATS connection, subjects, typed request/reply, micro-service runner, KV helpers, trace propagation."""
