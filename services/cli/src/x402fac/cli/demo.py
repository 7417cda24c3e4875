"""`x402fac demo <network>`: one real x402 payment on a local devnet, with the official x402 clients.

It plays both sides around our gateway: a seller (FastAPI + the SDK's PaymentMiddlewareASGI, with the
gateway as facilitator) and a buyer (the SDK's x402HttpxClient with the network's client scheme), pays
from a funded devnet payer to a fresh payee, and checks on the devnet that the payee received exactly
the price. The official SDK is in the workspace's dev dependency group, so it is imported lazily.

`PaidResource` (the seller) also serves the end-to-end tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import uvicorn

from x402fac.bus import free_port
from x402fac.nano.node import NanoNode, NodeError
from x402fac.rpc import FailoverHttp, JsonRpcClient, NodeUnavailable, RpcError
from x402fac.settings import ServiceSettings, declared, environ, read

if TYPE_CHECKING:
    from fastapi import FastAPI
    from x402 import SchemeNetworkServer, x402Client

DEMO_NETWORKS = {
    "nano": "nano:devnet",
    "evm": "eip155:84532",
    "solana": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
}
DEFAULT_PRICES = {"nano": "0.001", "evm": "$0.001", "solana": "$0.001"}  # the SDK servers' money formats
RESOURCE_PATH = "/demo"
CONTENT = {"message": "you paid for this with x402"}
SETTLE_TIMEOUT = 60.0
BALANCE_WAIT = 10.0  # seconds a node may lag behind the settlement answer
BALANCE_POLL = 0.2


class DemoError(Exception):
    """The demo cannot go on; the message says what to do."""


# ---- the seller -----------------------------------------------------------------------------------------


async def wait_until_supported(gateway_url: str, network: str, attempts: int = 100) -> None:
    """Poll the gateway's /supported until some kind names `network` (its worker has announced itself)."""
    async with aiohttp.ClientSession() as http:
        for _ in range(attempts):
            async with http.get(f"{gateway_url}/supported") as response:
                kinds = (await response.json())["kinds"]
            if any(kind["network"] == network for kind in kinds):
                return
            await asyncio.sleep(0.1)
    raise TimeoutError(f"the gateway at {gateway_url} does not list {network}")


class PaidResource:
    """A seller: one paid route behind the official x402 SDK, with our gateway as facilitator.

    A FastAPI app with the SDK's PaymentMiddlewareASGI and an x402ResourceServer that registers the
    family's SDK server scheme, on a free loopback port. It runs on its own thread and loop: the SDK's
    resource server makes blocking calls (it fetches /supported synchronously), which must not stall
    the loop the caller (or a test's gateway) runs on. `async with PaidResource(...) as resource:`
    waits until the gateway lists the network, then serves.
    """

    def __init__(
        self,
        gateway_url: str,
        network: str,
        scheme: SchemeNetworkServer,
        path: str,
        accepts: dict[str, Any],
        description: str,
        content: dict[str, Any],
        extensions: dict[str, Any] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.gateway_url = gateway_url
        self.network = network
        self.scheme = scheme
        self.path = path
        self.accepts = accepts
        self.description = description
        self.content = content
        self.extensions = extensions  # declared in the 402 answer (e.g. gas sponsoring)
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def build_app(self) -> FastAPI:
        from fastapi import FastAPI
        from x402 import x402ResourceServer
        from x402.http import FacilitatorConfig, HTTPFacilitatorClient
        from x402.http.middleware.fastapi import PaymentMiddlewareASGI

        server = x402ResourceServer(
            HTTPFacilitatorClient(FacilitatorConfig(url=self.gateway_url, timeout=SETTLE_TIMEOUT))
        )
        server.register(self.network, self.scheme)
        route: dict[str, Any] = {"accepts": self.accepts, "description": self.description}
        if self.extensions:
            route["extensions"] = self.extensions
        routes = {f"GET {self.path}": route}
        app = FastAPI()
        app.add_middleware(PaymentMiddlewareASGI, routes=routes, server=server)

        @app.get(self.path)
        async def paid_content() -> dict[str, Any]:
            return self.content

        return app

    def start(self) -> None:
        config = uvicorn.Config(self.build_app(), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, name=f"paid-resource {self.network}", daemon=True
        )
        self.thread.start()

    async def wait_started(self) -> None:
        for _ in range(200):
            if self.server is not None and self.server.started:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("resource server did not start")

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)

    async def __aenter__(self) -> PaidResource:
        # The SDK's resource server reads /supported when its middleware starts: the worker must be listed.
        await wait_until_supported(self.gateway_url, self.network)
        self.start()
        await self.wait_started()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.stop)


# ---- devnet reads ---------------------------------------------------------------------------------------


async def nano_balance(url: str, address: str) -> int:
    """Balance plus receivable, raw: what the payee holds or can receive."""
    node = NanoNode(FailoverHttp([url]))
    try:
        balance, receivable = await node.account_balance(address)
    except (NodeError, NodeUnavailable) as error:
        raise DemoError(f"Nano RPC {error}") from error
    finally:
        await node.close()
    return balance + receivable


async def json_rpc(url: str, method: str, *params: Any) -> Any:
    client = JsonRpcClient([url])
    try:
        return await client.call(method, *params)
    except (RpcError, NodeUnavailable) as error:
        raise DemoError(f"RPC {error}") from error
    finally:
        await client.close()


# ---- what differs per network family --------------------------------------------------------------------


@dataclass
class Parties:
    """Who pays whom on one devnet, the SDK's schemes for both sides, and how to read the payee's balance."""

    payer: str
    pay_to: str
    server_scheme: SchemeNetworkServer
    client: Callable[[int], x402Client]  # price in atomic units -> an x402Client that pays this network
    balance: Callable[[], Awaitable[int]]  # the payee's balance, atomic units
    unit: Callable[[int], str]  # atomic units -> a readable amount
    price: Callable[[str], Any] = lambda amount: amount  # `--price` -> the offer's price (SDK format)
    default_price: str | None = None  # instead of the family's DEFAULT_PRICES


async def nano_parties(info: dict[str, Any], say: Callable[[str], None]) -> Parties:
    from x402 import x402Client
    from x402_nano_exact import ExactNanoServerScheme

    from x402fac.nano import encode_address, public_key, raw_to_xno
    from x402fac.nano.x402_client import ExactNanoClientScheme, nano_spend_control

    network, rpc_url = info["network"], info["rpcUrl"]
    payer = info["payers"][0]
    pay_to = encode_address(public_key(os.urandom(32)))
    say(f"   payer  {payer['account']}  (a funded devnet account)")
    say(f"   payTo  {pay_to}  (a fresh account: the payment waits for it as a receivable)")

    def client(price: int) -> x402Client:
        paying = x402Client().register(network, ExactNanoClientScheme(payer["privateKey"], rpc_url))
        # The SDK pays only USD-pegged assets unless told otherwise: allow XNO up to the price.
        paying.set_spend_controls({"allowed_assets": [nano_spend_control(max_raw=price)]})
        return paying

    async def balance() -> int:
        return await nano_balance(rpc_url, pay_to)

    return Parties(
        payer["account"],
        pay_to,
        ExactNanoServerScheme(),
        client,
        balance,
        lambda raw: f"{raw} raw ({raw_to_xno(raw)} XNO)",
    )


async def evm_parties(info: dict[str, Any], say: Callable[[str], None]) -> Parties:
    from eth_account import Account
    from x402 import x402Client
    from x402.mechanisms.evm.exact import ExactEvmServerScheme, register_exact_evm_client

    network, rpc_url, usdc = info["network"], info["rpcUrl"], info["usdc"]
    payer = Account.from_key(info["payers"][0]["privateKey"])
    pay_to = Account.create().address
    say(f"   payer  {payer.address}  (a devnet account holding USDC)")
    say(f"   payTo  {pay_to}  (a fresh address)")

    def client(_price: int) -> x402Client:
        return register_exact_evm_client(x402Client(), payer, networks=network)

    async def balance() -> int:
        # balanceOf(address): selector 0x70a08231, then the address as one 32-byte word.
        call = {"to": usdc["address"], "data": "0x70a08231" + pay_to[2:].lower().rjust(64, "0")}
        return int(await json_rpc(rpc_url, "eth_call", call, "latest"), 16)

    return Parties(
        payer.address, pay_to, ExactEvmServerScheme(), client, balance, usdc_amount(usdc["decimals"])
    )


async def evm_permit2_parties(info: dict[str, Any], say: Callable[[str], None]) -> Parties:
    """The devnet's plain ERC-20 (no EIP-3009), paid by Permit2 through the x402 exact proxy."""
    from eth_account import Account
    from x402 import x402Client
    from x402.mechanisms.evm.exact import ExactEvmServerScheme, register_exact_evm_client

    from x402fac.devnet.evm import approve

    network, rpc_url, token = info["network"], info["rpcUrl"], info["tokens"]["erc20"]
    payer = Account.from_key(info["payers"][0]["privateKey"])
    pay_to = Account.create().address
    say(f"   payer  {payer.address}  (a devnet account holding {token['symbol']}, a plain ERC-20)")
    say(f"   payTo  {pay_to}  (a fresh address)")
    allowance = await _evm_read(
        rpc_url, token["address"], "0xdd62ed3e", payer.address, info["permit2"]["address"]
    )
    if allowance == 0:
        # Once per payer and token, and paid by the payer: Permit2 may then move its tokens, but only
        # as the payer signs each payment.
        tx_hash = await approve(info, info["payers"][0]["privateKey"], token["address"])
        say(f"   the payer approves Permit2 for {token['symbol']} once, its own transaction {tx_hash}")

    def client(price: int) -> x402Client:
        paying = register_exact_evm_client(x402Client(), payer, networks=network)
        # The SDK pays only its default (USD) assets unless told otherwise: allow this token up to the price.
        allowed = {"network": network, "asset": token["address"], "max_amount_per_payment": str(price)}
        return paying.set_spend_controls({"allowed_assets": [allowed]})

    async def balance() -> int:
        return await _evm_read(rpc_url, token["address"], "0x70a08231", pay_to)

    def price(amount: str) -> dict[str, Any]:
        atomic = int(Decimal(amount).scaleb(token["decimals"]))
        return {"amount": str(atomic), "asset": token["address"], "extra": {"assetTransferMethod": "permit2"}}

    unit = token_amount(token["decimals"], token["symbol"])
    return Parties(payer.address, pay_to, ExactEvmServerScheme(), client, balance, unit, price, "0.001")


async def _evm_read(rpc_url: str, contract: str, selector: str, *addresses: str) -> int:
    """A view of `contract` taking addresses and answering one uint256 (balanceOf, allowance)."""
    data = selector + "".join(address[2:].lower().rjust(64, "0") for address in addresses)
    return int(await json_rpc(rpc_url, "eth_call", {"to": contract, "data": data}, "latest"), 16)


async def solana_parties(info: dict[str, Any], say: Callable[[str], None]) -> Parties:
    from solders.keypair import Keypair
    from solders.pubkey import Pubkey
    from x402 import x402Client
    from x402.mechanisms.svm import KeypairSigner
    from x402.mechanisms.svm.exact import ExactSvmServerScheme, register_exact_svm_client

    from x402fac.devnet.solana import faucet
    from x402fac.devnet.solana.instructions import ata

    network, rpc_url, usdc = info["network"], info["rpc_url"], info["usdc"]
    payer = Keypair.from_base58_string(info["payers"][0]["secret"])
    owner = Keypair().pubkey()
    token_account = ata(owner, Pubkey.from_string(usdc["mint"]))
    say(f"   payer  {payer.pubkey()}  (a devnet account holding USDC)")
    say(f"   payTo  {owner}  (a fresh owner)")
    # The exact scheme only transfers into an existing token account: the devnet faucet creates it (0 USDC).
    await faucet(info, str(owner), 0, lamports=0)
    say(f"          its USDC account {token_account} created by the devnet faucet")

    def client(_price: int) -> x402Client:
        signer = KeypairSigner(payer)
        return register_exact_svm_client(x402Client(), signer, networks=network, rpc_url=rpc_url)

    async def balance() -> int:
        answer = await json_rpc(rpc_url, "getTokenAccountBalance", str(token_account))
        return int(answer["value"]["amount"])

    return Parties(
        str(payer.pubkey()),
        str(owner),
        ExactSvmServerScheme(rpc_url=rpc_url),
        client,
        balance,
        usdc_amount(usdc["decimals"]),
    )


def usdc_amount(decimals: int) -> Callable[[int], str]:
    return token_amount(decimals, "USDC")


def token_amount(decimals: int, symbol: str) -> Callable[[int], str]:
    return lambda units: f"{units} units ({Decimal(units).scaleb(-decimals):f} {symbol})"


PARTIES = {"nano": nano_parties, "evm": evm_parties, "solana": solana_parties}
# Other ways to pay on a family, by `--method`: the first of each family's list is its default.
METHODS = {"evm": ("eip3009", "permit2")}
METHOD_PARTIES = {("evm", "permit2"): evm_permit2_parties}


# ---- the demo -------------------------------------------------------------------------------------------


@dataclass
class DemoResult:
    network: str
    payer: str
    pay_to: str
    price: int  # atomic units, from the offer
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
        "scheme": "exact",
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
