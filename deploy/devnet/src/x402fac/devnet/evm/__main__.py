"""`python -m x402fac.devnet.evm --port 8545 --data-dir DIR [--block-time N]`: runs until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from x402fac.devnet.evm.node import EvmDevnet
from x402fac.devnet.signals import stop_event


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m x402fac.devnet.evm", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8545)
    parser.add_argument("--data-dir", type=Path, default=Path(".x402fac/devnet"))
    parser.add_argument("--block-time", type=int, default=None, help="seconds per block (default: automine)")
    parser.add_argument(
        "--mixed-mining",
        action="store_true",
        help="automine plus a block every second (unsticks transactions anvil's automine leaves behind)",
    )
    parser.add_argument("--payers", type=int, default=5, help="payer accounts funded with ETH and USDC")
    parser.add_argument("--signers", type=int, default=1, help="facilitator signer keys funded with ETH")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> int:
    devnet = EvmDevnet(**vars(args))  # the options are the devnet's fields, by name
    stop = stop_event()
    await devnet.start()
    print(f"evm devnet RPC {devnet.rpc_url}", flush=True)
    anvil_exit = asyncio.ensure_future(devnet.wait())
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait([anvil_exit, stopped], return_when=asyncio.FIRST_COMPLETED)
    if anvil_exit.done():
        print(f"anvil exited with {anvil_exit.result()}", file=sys.stderr)
        return 1
    anvil_exit.cancel()
    stopped.cancel()
    await devnet.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
