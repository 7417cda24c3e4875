"""`x402fac demo <network>`: one real x402 payment on a local devnet, with the official x402 clients.

It plays both sides around our gateway: a seller (FastAPI + the SDK's PaymentMiddlewareASGI, with the
gateway as facilitator) and a buyer (the SDK's x402HttpxClient with the network's client scheme), pays
from a funded devnet payer to a fresh payee, and checks on the devnet that the payee received exactly
the price. The official SDK is in the workspace's dev dependency group, so it is imported lazily.

The seller is `seller.PaidResource`; what differs per family is in `parties`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from x402fac.settings import ServiceSettings, declared, environ, read

from .parties import METHOD_PARTIES, METHODS, PARTIES, DemoError
from .seller import SETTLE_TIMEOUT, PaidResource, wait_until_supported

if TYPE_CHECKING:
    from x402 import x402Client

DEMO_NETWORKS = {
    "nano": "nano:devnet",
    "evm": "eip155:84532",
    "solana": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
}
DEFAULT_PRICES = {"nano": "0.001", "evm": "$0.001", "solana": "$0.001"}  # the SDK servers' money formats
RESOURCE_PATH = "/demo"
CONTENT = {"message": "you paid for this with x402"}
BALANCE_WAIT = 10.0  # seconds a node may lag behind the settlement answer
BALANCE_POLL = 0.2


@dataclass
class DemoResult:
    network: str
    payer: str
    pay_to: str
    price: int  # atomic units the payee must receive: the offer's (upto: what the resource charged of it)
    status: int  # HTTP status of the paid request
    transaction: str
    before: int
    after: int

    @property
    def succeeded(self) -> bool:
        return self.status == 200 and self.after - self.before == self.price


def demo_family(network: str) -> str:
    """`nano`, `evm`, `solana` or one of their devnets' CAIP-2 ids -> the family."""
    for family, devnet_network in DEMO_NETWORKS.items():
        if network in (family, devnet_network):
            return family
    choices = ", ".join([*DEMO_NETWORKS, *DEMO_NETWORKS.values()])
    raise DemoError(f"no demo for {network!r}; choose one of {choices}")


def read_devnet(data_dir: Path, family: str) -> dict[str, Any]:
    path = data_dir / f"devnet-{family}.json"
    if not path.exists():
        raise DemoError(f"no {family} devnet: {path} not found (start the stack with `make run`)")
    info = json.loads(path.read_text())
    if not info.get("payers"):
        raise DemoError(f"{path} lists no funded payer")
    return info


async def pay(client: x402Client, url: str) -> Any:
    """GET `url` with the official client, which answers the 402 by paying. On its own thread and loop:
    some SDK client schemes read the chain with blocking calls, and the devnet may share our loop."""
    from x402.http.clients import x402HttpxClient

    async def get() -> Any:
        async with x402HttpxClient(client, timeout=SETTLE_TIMEOUT) as http:
            return await http.get(url)

    try:
        return await asyncio.to_thread(asyncio.run, get())
    except Exception as exc:
        raise DemoError(f"the x402 client could not pay: {type(exc).__name__}: {exc}") from exc


async def balance_after(balance: Callable[[], Awaitable[int]], before: int) -> int:
    """The payee's balance once it differs from `before` (or after about BALANCE_WAIT seconds)."""
    for _ in range(int(BALANCE_WAIT / BALANCE_POLL)):
        after = await balance()
        if after != before:
            return after
        await asyncio.sleep(BALANCE_POLL)
    return await balance()


async def run_demo(
    network: str,
    gateway_url: str,
    price: str | None = None,
    data_dir: Path | None = None,
    say: Callable[[str], None] = print,
    method: str | None = None,
) -> DemoResult:
    from x402.http.utils import decode_payment_required_header, decode_payment_response_header

    family = demo_family(network)
    data_dir = data_dir or Path(read(environ(None), declared(ServiceSettings, "data_dir"), str)).resolve()
    gateway_url = gateway_url.rstrip("/")
    methods = METHODS.get(family, ())
    if method is not None and method not in methods:
        raise DemoError(f"no method {method!r} on {family}; choose one of {', '.join(methods) or '(none)'}")

    say(f"1. The {family} devnet, from {data_dir / f'devnet-{family}.json'}")
    info = read_devnet(data_dir, family)
    network = info["network"]
    parties = await METHOD_PARTIES.get((family, method or ""), PARTIES[family])(info, say)
    price = price or parties.default_price or DEFAULT_PRICES[family]
    before = await parties.balance()
    say(f"   payTo balance now: {parties.unit(before)}")

    accepts = {
        "scheme": parties.scheme,
        "network": network,
        "price": parties.price(price),
        "payTo": parties.pay_to,
        "maxTimeoutSeconds": 60,
    }
    resource = PaidResource(
        gateway_url,
        network,
        parties.server_scheme,
        RESOURCE_PATH,
        accepts,
        "x402fac demo",
        CONTENT,
        charge=f"{parties.charge_percent}%" if parties.charge_percent is not None else None,
    )
    say(f"2. A paid resource (FastAPI + the x402 SDK's payment middleware), facilitator {gateway_url}")
    try:
        await wait_until_supported(gateway_url, network)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DemoError(
            f"the gateway at {gateway_url} does not serve {network} ({exc}); is the stack running?"
        ) from exc
    async with resource:
        url = resource.url + RESOURCE_PATH
        say(f"   GET {url} costs {price}")

        say("3. GET without paying")
        async with aiohttp.ClientSession() as http, http.get(url) as unpaid:
            status, header = unpaid.status, unpaid.headers.get("PAYMENT-REQUIRED")
        if status != 402 or header is None:
            raise DemoError(f"expected 402 with PAYMENT-REQUIRED, got HTTP {status}")
        offer = decode_payment_required_header(header)
        say("   HTTP 402, the offer (PAYMENT-REQUIRED, decoded):")
        shown = offer.model_dump(mode="json", by_alias=True, exclude_none=True)
        for line in json.dumps(shown, indent=2).splitlines():
            say(f"     {line}")
        amount = int(offer.accepts[0].amount)
        if parties.charge_percent is not None:  # upto: the payer authorizes the offer, is charged less
            say(
                f"4. Authorizing up to {parties.unit(amount)} with the official x402 client (x402HttpxClient)"
            )
            amount = amount * parties.charge_percent // 100
            say(f"   the resource, once served, charges {parties.charge_percent}%: {parties.unit(amount)}")
        else:
            say(f"4. Paying {parties.unit(amount)} with the official x402 client (x402HttpxClient)")
        paid = await pay(parties.client(amount), url)

    say(f"   HTTP {paid.status_code}: {paid.text}")
    transaction = ""
    if "PAYMENT-RESPONSE" in paid.headers:
        settlement = decode_payment_response_header(paid.headers["PAYMENT-RESPONSE"])
        transaction = settlement.transaction
        say("5. The settlement (PAYMENT-RESPONSE, decoded):")
        say(f"   success      {settlement.success}")
        say(f"   transaction  {settlement.transaction}")
        say(f"   payer        {settlement.payer}")
        if settlement.error_reason:
            say(f"   error        {settlement.error_reason}: {settlement.error_message}")
    else:
        say("5. No PAYMENT-RESPONSE: nothing was settled")

    after = await balance_after(parties.balance, before) if paid.status_code == 200 else before
    result = DemoResult(
        network, parties.payer, parties.pay_to, amount, paid.status_code, transaction, before, after
    )
    if parties.check is not None:
        say(await parties.check())
    say(f"   payTo balance before {parties.unit(before)}")
    say(f"   payTo balance after  {parties.unit(after)}")
    if result.succeeded:
        say(f"OK: the payee received exactly the price, {parties.unit(amount)}")
    else:
        say(f"FAILED: the payee's balance moved by {after - before}, the price is {amount}")
    return result


def run(network: str, gateway_url: str, price: str | None = None, method: str | None = None) -> int:
    """The `x402fac demo` command: 0 when the payee's balance moved by exactly the price."""
    try:
        import fastapi  # noqa: F401
        import x402.http.clients  # noqa: F401
        import x402_nano_exact  # noqa: F401
    except ImportError as exc:
        print(
            f"x402fac demo needs the official x402 SDK, which is missing ({exc}). It is in the "
            "workspace's dev dependency group: run `make` (or `uv sync --frozen`) in the repository.",
            file=sys.stderr,
        )
        return 2
    # The SDK's SVM schemes use solana-py's sync Client, which warns on each use: nothing a user can act on.
    warnings.filterwarnings("ignore", message="Client is deprecated", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message="Client is deprecated", category=FutureWarning)
    try:
        result = asyncio.run(run_demo(network, gateway_url, price, method=method))
    except DemoError as exc:
        print(f"x402fac demo: {exc}", file=sys.stderr)
        return 1
    return 0 if result.succeeded else 1
