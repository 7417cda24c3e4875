"""Counterfactual smart wallets on the devnet: an ERC-6492-capable wallet factory and Multicall3.

`SmartWalletFactory` (deploy/devnet/contracts/SmartWallet.sol) deploys `SmartWallet` clones (ERC-1271,
valid when the owner EOA signed) at CREATE2 addresses known before deployment; it is deployed by a
one-off key at every start. Multicall3 (our implementation of its `aggregate3`, no constructor state)
is placed at its canonical address with `anvil_setCode`, as it is deployed on the public chains.
"""

from __future__ import annotations

from typing import Any

from eth_abi import encode
from eth_account import Account
from eth_utils import to_checksum_address

from x402fac.devnet.evm.contracts import Artifact
from x402fac.devnet.evm.rpc import DevnetRpc, calldata

MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"
CREATE_ACCOUNT = "createAccount(address,uint256)"
ERC6492_SUFFIX = bytes.fromhex("64926492" * 8)


async def place(rpc: DevnetRpc, artifacts: dict[str, Artifact]) -> dict[str, Any]:
    """Puts the factory and Multicall3 on the chain; their entry of the devnet info file."""
    await rpc.call("anvil_setCode", MULTICALL3_ADDRESS, "0x" + artifacts["Multicall3"].runtime.hex())
    deployer = Account.create()
    await rpc.call("anvil_setBalance", deployer.address, hex(10**18))
    key = "0x" + bytes(deployer.key).hex()
    receipt = await rpc.wait_receipt(
        await rpc.send(key, None, "0x" + artifacts["SmartWalletFactory"].bytecode.hex())
    )
    return {
        "factory": to_checksum_address(receipt["contractAddress"]),
        "createAccount": CREATE_ACCOUNT,
        "multicall3": MULTICALL3_ADDRESS,
    }


async def wallet_address(info: dict[str, Any], owner: str, salt: int = 0) -> str:
    """The address the factory deploys `owner`'s wallet at (CREATE2), known before it is deployed."""
    async with DevnetRpc(info["rpcUrl"]) as rpc:
        answer = await rpc.eth_call(
            info["erc6492"]["factory"],
            calldata("getAddress(address,uint256)", ["address", "uint256"], [owner, salt]),
        )
    return to_checksum_address(answer[-20:])


def deploy_calldata(owner: str, salt: int = 0) -> str:
    """The factory call that deploys `owner`'s wallet (what an ERC-6492 wrapper carries)."""
    return calldata(CREATE_ACCOUNT, ["address", "uint256"], [owner, salt])


def wrap_signature(factory: str, factory_calldata: bytes, inner: bytes) -> bytes:
    """An ERC-6492 signature: how a wallet not deployed yet signs (what smart-wallet SDKs send)."""
    return encode(["address", "bytes", "bytes"], [factory, factory_calldata, inner]) + ERC6492_SUFFIX
