"""The `erc20ApprovalGasSponsoring` extension: the payer signed an ERC-20 `approve(Permit2, …)`
transaction but holds no ether for its gas; we fund that gas, broadcast the approval, then settle.

What it costs us and how it is bounded (docs/networks/evm.md, "Permit2"): the approval's gas limit x
its maxFeePerGas, less what the payer already holds, sent to the payer (any unspent rest stays
with the payer), plus our funding transfer (21,000 gas) and the settlement itself; all of it under
the network's `_MAX_SETTLE_COST_WEI`, with the approval's fee at most twice the network's current
maxFeePerGas and its gas at most APPROVAL_GAS_MAX. Nothing is funded before every other check of the
payment passed (identify, verify, the ledger claim), and only when the payer's allowance to Permit2
is still missing when the settlement is planned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from x402fac.protocol import Reason, VerifyRequest
from x402fac.rpc import NodeUnavailable
from x402fac.worker import Invalid, Rejected

from . import permit2
from .chain import RpcError
from .nonces import Fees, Signer
from .permit2 import PERMIT2_ADDRESS, Eip2612Permit, Erc20Approval, Permit2Authorization
from .runtime import EvmRuntime, hex_of, view
from .transactions import SignedTransaction, decode_signed

if TYPE_CHECKING:
    from .verify_permit2 import Permit2Payment

Grant = TypeVar("Grant", Eip2612Permit, Erc20Approval)

APPROVAL_GAS_MAX = 100_000  # an ERC-20 approve needs ~46,000; the official client signs 70,000
FUNDING_GAS = 21_000
FEE_FACTOR_MAX = 2  # the approval's maxFeePerGas at most this many times the network's current one
RECEIPT_WAIT = 30.0  # seconds for the funding and the approval to be mined before the settlement


@dataclass(frozen=True, slots=True)
class GrantExtension(Generic[Grant]):
    """A gas sponsoring extension by which the payer grants Permit2 its token: how it is read, how
    refusals name it, and their reason codes."""

    name: str
    parse: Callable[[Any], Grant | None]
    what: str
    malformed: str
    other_owner: str
    other_token: str
    other_spender: str


EIP2612_PERMIT = GrantExtension(
    permit2.EIP2612_GAS_SPONSORING,
    permit2.parse_eip2612,
    "the EIP-2612 permit",
    Reason.INVALID_EIP2612_EXTENSION_FORMAT,
    Reason.EIP2612_FROM_MISMATCH,
    Reason.EIP2612_ASSET_MISMATCH,
    Reason.EIP2612_SPENDER_NOT_PERMIT2,
)
ERC20_APPROVAL = GrantExtension(
    permit2.ERC20_APPROVAL_GAS_SPONSORING,
    permit2.parse_erc20_approval,
    "the approval",
    Reason.INVALID_ERC20_APPROVAL_EXTENSION_FORMAT,
    Reason.ERC20_APPROVAL_FROM_MISMATCH,
    Reason.ERC20_APPROVAL_ASSET_MISMATCH,
    Reason.ERC20_APPROVAL_SPENDER_NOT_PERMIT2,
)


def grant_of(
    runtime: EvmRuntime, request: VerifyRequest, auth: Permit2Authorization, extension: GrantExtension[Grant]
) -> Grant | None:
    """The grant the payload's `extension` carries, when the network accepts the extension (else
    ignored), checked to be the payer's, of the permitted token, to Permit2."""
    if extension.name not in runtime.config.gas_sponsoring:
        return None
    try:
        grant = extension.parse(request.payment_payload.extensions)
    except permit2.PayloadError as exc:
        raise Invalid(extension.malformed, str(exc)) from None
    if grant is None:
        return None
    what = extension.what
    if grant.owner != auth.owner:
        raise Invalid(extension.other_owner, f"{what} is from {grant.owner}, not {auth.owner}")
    if grant.token != auth.token:
        raise Invalid(extension.other_token, f"{what} is for {grant.token}, not {auth.token}")
    if grant.spender != PERMIT2_ADDRESS:
        raise Invalid(extension.other_spender, f"{what}'s spender is {grant.spender}")
    return grant


def approval_of(
    runtime: EvmRuntime, request: VerifyRequest, auth: Permit2Authorization
) -> SignedTransaction | None:
    """The payer's signed approval the payload carries, when the network accepts the extension."""
    approval = grant_of(runtime, request, auth, ERC20_APPROVAL)
    if approval is None:
        return None
    try:
        signed = decode_signed(approval.raw)
    except ValueError as exc:
        raise Invalid(Reason.ERC20_APPROVAL_TX_PARSE_FAILED, f"signedTransaction: {exc}") from None
    tx = signed.transaction
    if tx.chain_id != runtime.config.chain_id or tx.value:
        raise Invalid(
            Reason.ERC20_APPROVAL_TX_PARSE_FAILED,
            f"the approval is for chain {tx.chain_id} (not {runtime.config.chain_id}) or sends ether ({tx.value})",
        )
    if signed.sender != auth.owner:
        raise Invalid(Reason.ERC20_APPROVAL_TX_SIGNER_MISMATCH, f"the approval is signed by {signed.sender}")
    if tx.to != auth.token:
        raise Invalid(Reason.ERC20_APPROVAL_TX_WRONG_TARGET, f"the approval calls {tx.to}, not {auth.token}")
    arguments = permit2.approve_arguments(tx.data)
    if arguments is None:
        raise Invalid(Reason.ERC20_APPROVAL_TX_WRONG_SELECTOR, "the approval is not approve(address,uint256)")
    spender, amount = arguments
    if spender != PERMIT2_ADDRESS:
        raise Invalid(Reason.ERC20_APPROVAL_TX_WRONG_SPENDER, f"the approval approves {spender}")
    if amount < auth.amount:
        raise Invalid(
            Reason.PERMIT2_ALLOWANCE_REQUIRED, f"the approval allows {amount}, less than {auth.amount}"
        )
    if tx.gas > APPROVAL_GAS_MAX:
        raise Invalid(Reason.FEE_TOO_HIGH, f"the approval's gas limit {tx.gas} is above {APPROVAL_GAS_MAX}")
    return signed


def approval_calls(approval: SignedTransaction) -> list[tuple[str, list]]:
    """The payer's next nonce, and the approval executed as its signer sends it."""
    tx = approval.transaction
    execute = {"from": approval.sender, "to": tx.to, "data": hex_of(tx.data), "gas": hex(tx.gas)}
    return [("eth_getTransactionCount", [approval.sender, "pending"]), ("eth_call", [execute, "latest"])]


def check_approval(approval: SignedTransaction, next_nonce: object, executed: object) -> None:
    if isinstance(next_nonce, str) and int(next_nonce, 16) != approval.transaction.nonce:
        raise Invalid(
            Reason.ERC20_APPROVAL_TX_NONCE_MISMATCH,
            f"the approval has nonce {approval.transaction.nonce}, the payer's next is {int(next_nonce, 16)}",
        )
    if isinstance(executed, RpcError):
        raise Invalid(Reason.ERC20_APPROVAL_TX_FAILED, f"the approval would fail: {executed.message}")


@dataclass(frozen=True, slots=True)
class Sponsoring:
    """The approval to send before the settlement, and the ether the payer needs for it."""

    approval: SignedTransaction
    funding: int  # wei sent to the payer first (0: it holds enough)

    def cost(self, fees: Fees) -> int:
        """What it costs us beyond the settlement itself."""
        return self.funding + (FUNDING_GAS * fees.max_fee_per_gas if self.funding else 0)


async def plan(payment: Permit2Payment, fees: Fees) -> Sponsoring | None:
    """The sponsoring this settlement needs: None once the payer's allowance is there (the approval
    is then not sent), else the approval and the funding its gas needs."""
    approval = payment.approval
    if approval is None:
        return None
    auth, runtime = payment.authorization, payment.runtime
    allowance, held = await runtime.rpc.batch(
        [
            view(auth.token, permit2.allowance_calldata(auth.owner)),
            ("eth_getBalance", [auth.owner, "latest"]),
        ]
    )
    if isinstance(allowance, str) and len(allowance) >= 66 and int(allowance[2:66], 16) >= auth.amount:
        return None
    tx = approval.transaction
    if tx.max_fee_per_gas > FEE_FACTOR_MAX * fees.max_fee_per_gas:
        raise Invalid(
            Reason.FEE_TOO_HIGH,
            f"the approval's maxFeePerGas {tx.max_fee_per_gas} is above {FEE_FACTOR_MAX}x the network's"
            f" {fees.max_fee_per_gas}; sign it again at the current fee",
        )
    if isinstance(held, RpcError):
        raise Invalid(Reason.SIMULATION_FAILED, f"could not read the payer's balance: {held.message}")
    return Sponsoring(approval, max(0, tx.gas * tx.max_fee_per_gas - int(held, 16)))


def sign_funding(
    signer: Signer, nonce: int, payer: str, sponsoring: Sponsoring, fees: Fees
) -> tuple[str, bytes]:
    return signer.sign(nonce, payer, b"", FUNDING_GAS, fees, value=sponsoring.funding)


async def send_first(
    runtime: EvmRuntime, signer: Signer, sponsoring: Sponsoring, funding: tuple[int, str] | None
) -> None:
    """Funds the payer (when it needs it) and broadcasts its approval, each mined before the next;
    raises Rejected when the settlement must not follow (nothing of the payment was sent)."""
    if funding is not None:
        nonce, tx_hash = funding
        await signer.nonces.send(nonce, tx_hash)  # Rejected: nothing was sent
        await _mined(
            runtime, tx_hash, Reason.ERC20_APPROVAL_BROADCAST_FAILED, "our funding of the approval's gas"
        )
        signer.nonces.mined(tx_hash)
    approval = sponsoring.approval
    try:
        await runtime.rpc.call("eth_sendRawTransaction", hex_of(approval.raw))
    except RpcError as exc:
        if "already known" not in exc.message.lower():
            raise Rejected(
                Reason.ERC20_APPROVAL_BROADCAST_FAILED, f"the node refused the approval: {exc.message}"
            ) from None
    await _mined(runtime, approval.hash, Reason.ERC20_APPROVAL_TX_FAILED, "the payer's approval")


async def _mined(runtime: EvmRuntime, tx_hash: str, reason: str, what: str) -> None:
    try:
        receipt = await runtime.receipts.wait(tx_hash, RECEIPT_WAIT)
    except (TimeoutError, NodeUnavailable, RpcError) as exc:
        raise Rejected(reason, f"{what} {tx_hash}: {exc}") from None
    if receipt is None or receipt.get("status") != "0x1":
        raise Rejected(reason, f"{what} {tx_hash} was {'not mined' if receipt is None else 'reverted'}")
