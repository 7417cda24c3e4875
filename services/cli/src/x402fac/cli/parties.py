"""What differs per network family (and payment method) in the demo: who pays whom on the devnet, the
SDK's schemes for both sides, and how to read the payee's balance. The SDK and the family libraries
are imported lazily.
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

ERC6492_WALLET_FUNDING = 10**6  # 1 USDC for the demo's counterfactual wallet
UPTO_CHARGE_PERCENT = 40  # what the demo's usage-priced resource charges of the authorized maximum


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
    price: Callable[[str], Any] = lambda amount: amount  # `--price` -> the offer's price (SDK format)
    default_price: str | None = None  # instead of the family's DEFAULT_PRICES
    check: Callable[[], Awaitable[str]] | None = None  # what else the settlement did, in one line
    scheme: str = "exact"
    charge_percent: int | None = None  # `upto`: the share of the authorized maximum the server charges


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


async def evm_upto_parties(info: dict[str, Any], say: Callable[[str], None]) -> Parties:
    """`upto` in USDC: the payer authorizes a maximum through Permit2 for the x402 upto proxy, bound to
    the facilitator /supported names; the server charges part of it once it has served."""
    from eth_account import Account
    from x402 import x402Client
    from x402.mechanisms.evm.signers import EthAccountSigner
    from x402.mechanisms.evm.upto import UptoEvmClientScheme, UptoEvmServerScheme

    from x402fac.devnet.evm import approve

    network, rpc_url, usdc = info["network"], info["rpcUrl"], info["usdc"]
    payer = Account.from_key(info["payers"][0]["privateKey"])
    pay_to = Account.create().address
    say(f"   payer  {payer.address}  (a devnet account holding USDC, authorizing a maximum by Permit2)")
    say(f"   payTo  {pay_to}  (a fresh address; the server charges {UPTO_CHARGE_PERCENT}% of the maximum)")
    if (
        await _evm_read(rpc_url, usdc["address"], "0xdd62ed3e", payer.address, info["permit2"]["address"])
        == 0
    ):
        tx_hash = await approve(info, info["payers"][0]["privateKey"], usdc["address"])
        say(f"   the payer approves Permit2 for USDC once, its own transaction {tx_hash}")

    def client(_price: int) -> x402Client:
        return x402Client().register(network, UptoEvmClientScheme(EthAccountSigner(payer)))

    async def balance() -> int:
        return await _evm_read(rpc_url, usdc["address"], "0x70a08231", pay_to)

    unit = usdc_amount(usdc["decimals"])
    return Parties(
        payer.address,
        pay_to,
        UptoEvmServerScheme(),
        client,
        balance,
        unit,
        scheme="upto",
        charge_percent=UPTO_CHARGE_PERCENT,
    )


def counterfactual_signer(owner: Any, wallet: str, factory: str, factory_calldata: bytes) -> Any:
    """An SDK client signer for `wallet` (an `eth_account` owner's), deployed or not: the owner signs,
    and the signature is wrapped for ERC-6492 (a deployed wallet's payment is settled without deploying)."""
    from x402.mechanisms.evm.signers import EthAccountSigner

    from x402fac.devnet.evm.wallets import wrap_signature

    class CounterfactualSigner(EthAccountSigner):
        @property
        def address(self) -> str:
            return wallet

        def sign_typed_data(self, domain, types, primary_type, message) -> bytes:
            inner = super().sign_typed_data(domain, types, primary_type, message)
            return wrap_signature(factory, factory_calldata, inner)

    return CounterfactualSigner(owner)


async def evm_erc6492_parties(info: dict[str, Any], say: Callable[[str], None]) -> Parties:
    """A smart wallet that does not exist yet pays in USDC: a fresh owner's counterfactual wallet of the
    devnet factory, funded by the faucet, signing ERC-6492; the settlement deploys it, then pays."""
    from eth_account import Account
    from x402 import x402Client
    from x402.mechanisms.evm.exact import ExactEvmServerScheme, register_exact_evm_client

    from x402fac.devnet.evm import faucet
    from x402fac.devnet.evm.wallets import deploy_calldata, wallet_address

    if "erc6492" not in info:
        raise DemoError("this EVM devnet has no ERC-6492 wallet factory: restart it with this version")
    network, rpc_url, usdc = info["network"], info["rpcUrl"], info["usdc"]
    factory = info["erc6492"]["factory"]
    owner = Account.create()
    salt = int.from_bytes(os.urandom(8), "big")
    wallet = await wallet_address(info, owner.address, salt)
    await faucet(info, wallet, ERC6492_WALLET_FUNDING)
    deployment = bytes.fromhex(deploy_calldata(owner.address, salt)[2:])
    signer = counterfactual_signer(owner, wallet, factory, deployment)
    pay_to = Account.create().address
    say(f"   payer  {wallet}  (a smart wallet not deployed yet, holding USDC; owner {owner.address})")
    say(f"          it signs ERC-6492: the factory {factory} deploys it when the payment settles")
    say(f"   payTo  {pay_to}  (a fresh address)")

    def client(_price: int) -> x402Client:
        return register_exact_evm_client(x402Client(), signer, networks=network)

    async def balance() -> int:
        return await _evm_read(rpc_url, usdc["address"], "0x70a08231", pay_to)

    async def check() -> str:
        code = await json_rpc(rpc_url, "eth_getCode", wallet, "latest")
        return f"   the wallet {wallet} is {'still not' if code in ('0x', '0x0') else 'now'} deployed"

    unit = usdc_amount(usdc["decimals"])
    return Parties(wallet, pay_to, ExactEvmServerScheme(), client, balance, unit, check=check)


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
METHODS = {"evm": ("eip3009", "permit2", "erc6492", "upto")}
METHOD_PARTIES = {
    ("evm", "permit2"): evm_permit2_parties,
    ("evm", "erc6492"): evm_erc6492_parties,
    ("evm", "upto"): evm_upto_parties,
}
