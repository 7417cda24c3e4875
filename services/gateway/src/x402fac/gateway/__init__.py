"""HTTP gateway (Litestar)."""
