"""The `x402fac` command.

x402fac run                      the whole local stack: nats-server, devnets, ledger, workers, gateway
x402fac gateway | ledger         one service (what a container runs)
x402fac worker <family>          one network worker (nano, evm, solana)
x402fac check <service>          health check of one service (what a container probe runs)
x402fac settings [--markdown]    every variable the services read, its default and its Helm value
x402fac devnet <family> [...]    one devnet in the foreground
x402fac devnet faucet <network> <address> <amount>
x402fac demo <network>           pay for a resource on a devnet with the official x402 clients
x402fac keys create --name N [--rate R] | list | revoke <id>     API keys (over NATS to the ledger)
x402fac whitelist add|remove|check <address> [--network N] | list   registered payTo addresses
x402fac discovery add <url> ... | remove <url> [--pay-to P] | list [filters]   the discovery catalog
"""

import argparse
import asyncio
import importlib
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

import uvloop

from x402fac.bus import cancel_and_wait
from x402fac.protocol import FAMILIES, family_of
from x402fac.settings import ServiceSettings, SettingsError, load
from x402fac.telemetry import serve_metrics, setup_logging, setup_tracing

log = logging.getLogger("x402fac.cli")
LEFTOVER_STOP_SECONDS = 2.0


def data_dir() -> Path:
    return Path(load(ServiceSettings).data_dir).resolve()


async def _until_signalled(main, signalled: list[float]) -> None:
    """Run `main(stop)` and set `stop` on SIGINT/SIGTERM, so services drain instead of dying."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if not signalled:
            signalled.append(time.monotonic())
            log.info("%s: draining", sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    await main(stop)
    # Tasks left behind (a background retry, a library's poller) are stopped here for certain: the
    # event loop's own shutdown cancels each once, then waits for it without bound.
    leftovers = asyncio.all_tasks() - {asyncio.current_task()}
    await asyncio.gather(*(cancel_and_wait(task, LEFTOVER_STOP_SECONDS) for task in leftovers))


def _serve(main) -> None:
    """A service's whole life on uvloop: every NATS hop and HTTP request takes fewer loop turns. How
    long its drain took, from the signal to a closed event loop, is logged: the chart's
    terminationGracePeriodSeconds must cover it."""
    signalled: list[float] = []
    uvloop.run(_until_signalled(main, signalled))
    if signalled:
        log.info("drained in %.2fs", time.monotonic() - signalled[0])


def _service_setup(name: str) -> None:
    """Settings are validated here, before anything starts: a bad value exits naming its variable."""
    try:
        settings = load(ServiceSettings)
    except SettingsError as exc:
        sys.exit(f"{name}: {exc}")
    setup_logging(name, settings)
    setup_tracing(f"x402fac-{name}")
    if settings.metrics_port:
        serve_metrics(settings.metrics_port)


def cmd_gateway(_args) -> None:
    from x402fac.gateway.config import GatewayConfig
    from x402fac.gateway.server import serve

    _service_setup("gateway")
    config = _settings("gateway", GatewayConfig.from_env)
    _serve(lambda stop: serve(config, stop=stop))


def _settings(name: str, build):
    """`build()`, or exit with the settings error (it names the variable) instead of a traceback."""
    try:
        return build()
    except SettingsError as exc:
        sys.exit(f"{name}: {exc}")


def cmd_ledger(_args) -> None:
    from x402fac.ledger.service import run

    _service_setup("ledger")
    _settings("ledger", lambda: _serve(lambda stop: run(stop=stop)))


def cmd_worker(args) -> None:
    module = importlib.import_module(f"x402fac.worker_{args.family}.service")
    _service_setup(f"worker-{args.family}")
    _settings(f"worker-{args.family}", lambda: _serve(lambda stop: module.run(stop=stop)))


def cmd_check(args) -> None:
    """Exit 0 when this container's service is healthy (the image's HEALTHCHECK, the pod's readiness).

    gateway: GET /health answers 200 (NATS up). ledger / worker-<family>: its own metrics port says the
    NATS connection is up (and, for a worker, that it serves its family).
    """
    import urllib.request

    service = args.service
    if service == "gateway":
        from x402fac.gateway.config import GatewayConfig  # only the gateway's image holds it

        port = _settings(service, lambda: load(GatewayConfig).port)
        url, wanted = f"http://127.0.0.1:{port}/health", []
    else:
        port = _settings(service, lambda: load(ServiceSettings).metrics_port)
        if not port:
            sys.exit(f"{service}: X402FAC_METRICS_PORT is not set; nothing to check")
        url = f"http://127.0.0.1:{port}/metrics"
        wanted = [f'x402fac_nats_connected{{service="{service}"}} 1.0']
        if service.startswith("worker-"):
            wanted.append(f'x402fac_worker_up{{family="{service.removeprefix("worker-")}"}} 1.0')
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode()
    except OSError as exc:
        sys.exit(f"{service}: {url}: {exc}")
    missing = [line for line in wanted if line not in body.splitlines()]
    if missing:
        sys.exit(f"{service}: not ready: {', '.join(missing)} not reported")


def cmd_devnet(args) -> None:
    if args.family == "faucet":
        return cmd_faucet(args.rest)
    module = f"x402fac.devnet.{args.family}"
    os.execv(sys.executable, [sys.executable, "-m", module, *args.rest])


def cmd_faucet(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="x402fac devnet faucet")
    parser.add_argument("network", help="CAIP-2 network of a running devnet, e.g. nano:devnet")
    parser.add_argument("address")
    parser.add_argument("amount", type=int, help="atomic units (raw for Nano, 6-decimal units for USDC)")
    args = parser.parse_args(argv)
    family = family_of(args.network)
    if family is None:
        sys.exit(f"unknown network {args.network!r}")
    info_path = data_dir() / f"devnet-{family}.json"
    if not info_path.exists():
        sys.exit(f"no running {family} devnet: {info_path} not found (start one with `make run`)")
    module = importlib.import_module(f"x402fac.devnet.{family}")
    info = json.loads(info_path.read_text())
    print(asyncio.run(module.faucet(info, args.address, args.amount)))


def cmd_demo(args) -> None:
    from .demo import run

    sys.exit(run(args.network, args.gateway, args.price, args.method))


def cmd_settings(args) -> None:
    from .settings import describe, markdown

    print(markdown() if args.markdown else describe(), end="" if args.markdown else "\n")


def cmd_run(args) -> None:
    from .stack import run_stack

    asyncio.run(run_stack(data_dir(), families=args.families or list(FAMILIES)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="x402fac", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the whole local stack")
    run.add_argument(
        "--families", nargs="*", choices=FAMILIES, help="network families to start (default: all)"
    )
    run.set_defaults(func=cmd_run)
    commands.add_parser("gateway", help="run the HTTP gateway").set_defaults(func=cmd_gateway)
    settings = commands.add_parser("settings", help="every variable, its default and Helm value")
    settings.add_argument(
        "--markdown", action="store_true", help="the reference as Markdown (docs/settings.md)"
    )
    settings.set_defaults(func=cmd_settings)
    commands.add_parser("ledger", help="run the ledger").set_defaults(func=cmd_ledger)
    worker = commands.add_parser("worker", help="run one network worker")
    worker.add_argument("family", choices=FAMILIES)
    worker.set_defaults(func=cmd_worker)
    check = commands.add_parser("check", help="health check of one service (containers, probes)")
    check.add_argument("service", choices=["gateway", "ledger", *(f"worker-{f}" for f in FAMILIES)])
    check.set_defaults(func=cmd_check)
    devnet = commands.add_parser(
        "devnet", help="run a devnet, or `devnet faucet <network> <address> <amount>`"
    )
    devnet.add_argument("family", choices=[*FAMILIES, "faucet"])
    devnet.add_argument("rest", nargs=argparse.REMAINDER)
    devnet.set_defaults(func=cmd_devnet)
    demo = commands.add_parser("demo", help="pay for a resource on a devnet with the official x402 clients")
    demo.add_argument("network", help="nano, evm, solana (or nano:devnet, eip155:84532, solana:EtWT...)")
    demo.add_argument("--gateway", default="http://127.0.0.1:4020", help="the facilitator's base URL")
    demo.add_argument("--price", help="in the SDK's money format: 0.001 (XNO) for nano, $0.001 (USDC)")
    demo.add_argument(
        "--method",
        help="how to pay, where a family has several: evm eip3009 (USDC, default), permit2 (the devnet's "
        "plain ERC-20, priced in its own units), erc6492 (a smart wallet not deployed yet pays in USDC) or "
        "upto (USDC up to the price, the server charges part of it)",
    )
    demo.set_defaults(func=cmd_demo)
    from .admin import add_commands

    add_commands(commands)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
