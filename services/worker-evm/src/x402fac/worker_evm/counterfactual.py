"""ERC-6492 payers on the chain (EIP-3009 and Permit2 `exact`): authenticating a wrapped signature
before the ledger, and the settlement that deploys the payer's wallet first.

One batch reads the payer's code, asks it (ERC-1271) about the inner signature, and, when its factory
is allowed, simulates the deployment followed by the same ERC-1271 question (Multicall3 `aggregate3`
in one `eth_call`: the deployment's state is seen by the second call and discarded after). A deployed
wallet is judged by the direct question and never deployed again; an undeployed one by the simulation.
Settling an undeployed wallet's payment is one transaction to Multicall3: the factory call (a failure
allowed: a copy may have deployed the wallet meanwhile), then the token transfer or the Permit2 exact
proxy's settle (which must succeed; the upto proxy admits only its facilitator as caller, so `upto`
takes no wrapper),
so the deployment's gas is in the settlement's estimate, under the cost ceiling, and paid once.
"""

from __future__ import annotations

from x402fac.protocol import Reason
from x402fac.worker import Invalid

from . import eip3009, erc6492
from .chain import RpcError
from .runtime import EvmRuntime, Settlement, hex_of, view


async def check(
    runtime: EvmRuntime,
    payer: str,
    digest: bytes,
    wrapped: erc6492.Wrapped,
    reason: str = Reason.INVALID_SIGNATURE,
) -> bool:
    """Authenticates an ERC-6492 signature for `digest`; True when the payer's wallet is not deployed
    yet (the settlement deploys it), False when it is and validated the inner signature itself.
    `reason` is the code a signature refusal carries."""
    question = eip3009.is_valid_signature_calldata(digest, wrapped.inner)
    allowed = wrapped.factory.lower() in runtime.config.erc6492_factories
    calls: list[tuple[str, list]] = [("eth_getCode", [payer, "latest"]), view(payer, question)]
    if allowed:
        simulation = erc6492.aggregate3_calldata(
            [(wrapped.factory, True, wrapped.factory_calldata), (payer, True, question)]
        )
        calls.append(view(erc6492.MULTICALL3, simulation))
    code, answer, *simulated = await runtime.rpc.batch(calls)
    if isinstance(code, RpcError):
        raise Invalid(reason, f"could not read the payer's code: {code.message}")
    if code not in ("0x", "0x0", None):
        if not _is_magic(answer):
            # A node may run a batch's calls in any order: the question may have met the address before
            # a copy's settlement deployed the wallet. Asked again now that its code is seen.
            (answer,) = await runtime.rpc.batch([view(payer, question)])
        if _is_magic(answer):
            return False
        raise Invalid(reason, "the payer's wallet (ERC-1271) rejected the inner signature")
    if not allowed:
        raise Invalid(
            Reason.ERC6492_FACTORY_NOT_ALLOWED,
            f"factory {wrapped.factory} is not one this facilitator deploys wallets with on"
            f" {runtime.config.network}",
        )
    (result,) = simulated
    if isinstance(result, RpcError):
        raise Invalid(
            Reason.SMART_WALLET_DEPLOYMENT_FAILED,
            f"simulating the wallet's deployment failed: {result.message}",
        )
    try:
        (deployed, deploy_output), (answered, wallet_answer) = erc6492.decode_aggregate3(
            bytes.fromhex(result[2:])
        )
    except ValueError:
        raise Invalid(
            Reason.SMART_WALLET_DEPLOYMENT_FAILED,
            f"no Multicall3 at {erc6492.MULTICALL3} on {runtime.config.network} to deploy the wallet with",
        ) from None
    if not deployed:
        raise Invalid(
            Reason.SMART_WALLET_DEPLOYMENT_FAILED,
            f"the factory call reverted: {eip3009.decode_revert(deploy_output) or 'no reason'}",
        )
    if answered and not wallet_answer:
        raise Invalid(
            Reason.SMART_WALLET_DEPLOYMENT_FAILED,
            f"the factory call leaves no ERC-1271 wallet at the payer {payer}",
        )
    if answered and _is_magic(hex_of(wallet_answer)):
        return True
    raise Invalid(reason, "the payer's wallet, once deployed, rejects the inner signature")


def settlement(deploying: erc6492.Wrapped | None, contract: str, calldata: bytes) -> Settlement:
    """The transaction sending `calldata` to `contract` (the token's transfer, the Permit2 proxy's
    settle); for an undeployed wallet's payment (`deploying`, from `check`), one to Multicall3 that
    deploys the wallet first."""
    if deploying is None:
        return Settlement(contract, calldata)
    calls = [(deploying.factory, True, deploying.factory_calldata), (contract, False, calldata)]
    return Settlement(erc6492.MULTICALL3, erc6492.aggregate3_calldata(calls), deploys_wallet=True)


def _is_magic(answer: object) -> bool:
    return isinstance(answer, str) and answer[2:10] == eip3009.ERC1271_MAGIC_VALUE.hex()
