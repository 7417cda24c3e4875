"""`python -m x402fac.devnet.solana --port 8899 --data-dir DIR`: run the Solana devnet until signalled."""

import argparse
import asyncio

from x402fac.devnet.signals import stop_event

from .devnet import SolanaDevnet


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m x402fac.devnet.solana", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8899)
    parser.add_argument("--data-dir", required=True, help="where devnet-solana.json is written")
    parser.add_argument("--payers", type=int, default=3, help="funded payer keys to create")
    parser.add_argument("--fee-payers", type=int, default=1, help="facilitator fee-payer keys to create")
    parser.add_argument("--slot-ms", type=int, default=400, help="slot (and blockhash) interval")
    parser.add_argument("--confirm-ms", type=int, default=800, help="processed -> confirmed delay")
    parser.add_argument("--finalize-ms", type=int, default=12_800, help="processed -> finalized delay")
    return parser.parse_args()


async def _main(args: argparse.Namespace) -> None:
    devnet = SolanaDevnet(
        payers=args.payers,
        fee_payers=args.fee_payers,
        slot_interval=args.slot_ms / 1000,
        confirm_delay=args.confirm_ms / 1000,
        finalize_delay=args.finalize_ms / 1000,
    )
    stop = stop_event()
    url = await devnet.start(args.host, args.port)
    devnet.write_info(args.data_dir)
    print(f"solana devnet RPC {url}", flush=True)
    try:
        await stop.wait()
    finally:
        await devnet.stop()


def main() -> None:
    asyncio.run(_main(_arguments()))


if __name__ == "__main__":
    main()
