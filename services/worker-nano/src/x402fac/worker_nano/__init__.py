"""Nano network worker: the x402 `exact` scheme on nano:* networks (state send blocks)."""
