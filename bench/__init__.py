"""x402fac benchmark harness: x402fac against the official x402 reference facilitators.

`python -m bench` (what `make bench` runs) starts every target on its own fresh local chain, sends
the same pre-signed payments to each, cross-checks every settle on-chain and writes Markdown, JSON
and a PNG plot under bench/results/. `python -m bench --help` lists the knobs.
"""
