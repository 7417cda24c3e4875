"""`python -m x402fac.devnet.nano --port 7076 --data-dir DIR [options]`: runs until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from x402fac.devnet.nano.server import (
    DEFAULT_CONFIRMATION_DELAY,
    DEFAULT_PORT,
    DEFAULT_RECEIVE_THRESHOLD,
    DEFAULT_SEND_THRESHOLD,
    NanoDevnet,
)
from x402fac.devnet.signals import stop_event
from x402fac.nano import format_work, parse_threshold


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m x402fac.devnet.nano", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--data-dir", type=Path, default=Path(".x402fac/devnet"))
    parser.add_argument(
        "--send-threshold", default=format_work(DEFAULT_SEND_THRESHOLD), help="hex work threshold"
    )
    parser.add_argument("--receive-threshold", default=format_work(DEFAULT_RECEIVE_THRESHOLD))
    parser.add_argument(
        "--confirmation-delay", type=float, default=DEFAULT_CONFIRMATION_DELAY, help="seconds until confirmed"
    )
    parser.add_argument("--payers", type=int, default=3, help="opened accounts funded with 1000 XNO each")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> int:
    devnet = NanoDevnet(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        send_threshold=parse_threshold(args.send_threshold),
        receive_threshold=parse_threshold(args.receive_threshold),
        confirmation_delay=args.confirmation_delay,
        payers=args.payers,
    )
    stop = stop_event()
    await devnet.start()
    print(f"nano devnet RPC {devnet.rpc_url}", flush=True)
    await stop.wait()
    await devnet.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
