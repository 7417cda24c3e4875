"""What differs per network family in the demo: who pays whom on the devnet, the SDK's schemes for both
sides, and how to read the payee's balance. The SDK and the family libraries are imported lazily.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from x402fac.nano.node import NanoNode, NodeError
from x402fac.rpc import FailoverHttp, JsonRpcClient, NodeUnavailable, RpcError

if TYPE_CHECKING:
    from x402 import SchemeNetworkServer, x402Client


class DemoError(Exception):
    """The demo cannot go on; the message says what to do."""


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


@dataclass
class Parties:
    """Who pays whom on one devnet, the SDK's schemes for both sides, and how to read the payee's balance."""

    payer: str
    pay_to: str
    server_scheme: SchemeNetworkServer
    client: Callable[[int], x402Client]  # price in atomic units -> an x402Client that pays this network
    balance: Callable[[], Awaitable[int]]  # the payee's balance, atomic units
    unit: Callable[[int], str]  # atomic units -> a readable amount


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
    return lambda units: f"{units} units ({Decimal(units).scaleb(-decimals):f} USDC)"


PARTIES = {"nano": nano_parties, "evm": evm_parties, "solana": solana_parties}
