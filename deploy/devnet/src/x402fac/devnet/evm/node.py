"""Starts anvil, places the devnet contracts (USDC, Permit2 and the x402 proxies at their canonical
addresses, two more tokens) and funds fresh accounts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account

from x402fac.children import die_with_parent
from x402fac.devnet.evm import wallets
from x402fac.devnet.evm.contracts import Artifact, anvil_binary, artifacts_path, load_artifacts
from x402fac.devnet.evm.rpc import DevnetRpc, calldata
from x402fac.rpc import NodeUnavailable

CHAIN_ID = 84532
NETWORK = "eip155:84532"
USDC_ADDRESS = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
USDC_NAME = "USDC"
USDC_VERSION = "2"
USDC_DECIMALS = 6
INFO_FILE = "devnet-evm.json"

# Canonical addresses: Permit2 is the same on every chain, the x402 proxies are where the official
# SDKs send (x402.mechanisms.evm.constants).
PERMIT2_ADDRESS = "0x000000000022D473030F116dDEE9F6B43aC78BA3"
EXACT_PERMIT2_PROXY_ADDRESS = "0x402085c248EeA27D92E8b30b2C58ed07f9E20001"
UPTO_PERMIT2_PROXY_ADDRESS = "0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002"
# Devnet-only tokens at fixed addresses: a plain ERC-20 (Permit2 is its only gasless path) and one
# with EIP-2612 permit. 18 decimals, like most ERC-20s.
ERC20_ADDRESS = "0x7E57000000000000000000000000000000000020"
EIP2612_ADDRESS = "0x7E57000000000000000000000000000000002612"
TOKEN_DECIMALS = 18
TOKENS = {
    "erc20": {"address": ERC20_ADDRESS, "name": "Devnet Token", "symbol": "DTK", "decimals": TOKEN_DECIMALS},
    "eip2612": {
        "address": EIP2612_ADDRESS,
        "name": "Devnet Permit Token",
        "version": "1",
        "symbol": "DPT",
        "decimals": TOKEN_DECIMALS,
    },
}
# contract name -> address it is placed at
PLACED = {
    "DevnetUSDC": USDC_ADDRESS,
    "Permit2": PERMIT2_ADDRESS,
    "X402ExactPermit2Proxy": EXACT_PERMIT2_PROXY_ADDRESS,
    "X402UptoPermit2Proxy": UPTO_PERMIT2_PROXY_ADDRESS,
    "DevnetERC20": ERC20_ADDRESS,
    "DevnetPermitToken": EIP2612_ADDRESS,
}
MINTED = (USDC_ADDRESS, ERC20_ADDRESS, EIP2612_ADDRESS)

ETHER = 10**18
MINTER_ETH = 1_000_000 * ETHER
FACILITATOR_ETH = 10_000 * ETHER
PAYER_ETH = 10 * ETHER
PAYER_USDC = 1_000_000 * 10**USDC_DECIMALS
PAYER_TOKENS = 1_000_000 * 10**TOKEN_DECIMALS


def new_account() -> dict[str, str]:
    account = Account.create()
    return {"address": account.address, "privateKey": "0x" + bytes(account.key).hex()}


@dataclass
class EvmDevnet:
    """A running anvil plus the accounts and contracts the faucet and the worker need."""

    host: str
    port: int
    data_dir: Path
    block_time: int | None = None
    # Automine plus a block every second: anvil's automine can leave a ready transaction unmined when
    # one sender's nonces arrive out of order (foundry-rs/foundry#10122); the tick mines it.
    mixed_mining: bool = False
    payers: int = 5
    signers: int = 1
    artifacts_dir: Path | None = None  # compiled-contract cache; default: the data dir
    process: asyncio.subprocess.Process | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def info_path(self) -> Path:
        return self.data_dir / INFO_FILE

    async def start(self) -> dict[str, Any]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        artifacts = await load_artifacts(self.artifacts_dir or self.data_dir)
        await self._start_anvil()
        try:
            self.info = await self._set_up(artifacts)
        except BaseException:
            await self.stop()
            raise
        partial = self.info_path.with_suffix(".tmp")
        partial.write_text(json.dumps(self.info, indent=2))
        os.chmod(partial, 0o600)  # holds private keys
        partial.replace(self.info_path)
        return self.info

    async def _start_anvil(self) -> None:
        args = [
            str(anvil_binary()),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(CHAIN_ID),
            "--accounts", "0",  # no well-known dev keys: every funded key is generated here
            # Old blocks' states past those anvil keeps in memory are dropped, not written under
            # ~/.foundry/anvil/tmp (never removed: ~1 GB a minute under a benchmark); every read is of
            # the latest state.
            "--max-persisted-states", "0",
        ]  # fmt: skip
        if self.block_time:
            args += ["--block-time", str(self.block_time)]
        elif self.mixed_mining:
            args += ["--block-time", "1", "--mixed-mining"]
        log = (self.data_dir / "anvil.log").open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                *args,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop anvil
                preexec_fn=die_with_parent(),  # a killed devnet process leaves no anvil behind
            )
        finally:
            log.close()
        async with DevnetRpc(self.rpc_url) as rpc:
            for _ in range(200):
                if self.process.returncode is not None:
                    raise RuntimeError(
                        f"anvil exited with {self.process.returncode}; see {self.data_dir}/anvil.log"
                    )
                try:
                    if await rpc.chain_id() == CHAIN_ID:
                        return
                except NodeUnavailable:
                    pass
                await asyncio.sleep(0.05)
        await self.stop()
        raise RuntimeError(f"anvil did not answer on {self.rpc_url}")

    async def _set_up(self, artifacts: dict[str, Artifact]) -> dict[str, Any]:
        minter = new_account()
        facilitators = [new_account() for _ in range(self.signers)]
        payers = [new_account() for _ in range(self.payers)]
        async with DevnetRpc(self.rpc_url) as rpc:
            for name, address in PLACED.items():
                await rpc.call("anvil_setCode", address, "0x" + artifacts[name].runtime.hex())
            smart_wallets = await wallets.place(rpc, artifacts)
            balances = [(minter, MINTER_ETH)] + [(a, FACILITATOR_ETH) for a in facilitators]
            balances += [(a, PAYER_ETH) for a in payers]
            await asyncio.gather(
                *(rpc.call("anvil_setBalance", a["address"], hex(wei)) for a, wei in balances)
            )
            # One nonce sequence from the minter: each token's initialize first, then the mints.
            initialize = calldata("initialize(address)", ["address"], [minter["address"]])
            sends = [(token, initialize) for token in MINTED]
            sends += [
                (token, calldata("mint(address,uint256)", ["address", "uint256"], [p["address"], amount]))
                for p in payers
                for token, amount in zip(MINTED, (PAYER_USDC, PAYER_TOKENS, PAYER_TOKENS), strict=True)
            ]
            tx_hashes = [
                await rpc.send(minter["privateKey"], token, data, nonce=nonce)
                for nonce, (token, data) in enumerate(sends)
            ]
            await asyncio.gather(*(rpc.wait_receipt(h) for h in tx_hashes))
        return {
            "network": NETWORK,
            "chainId": CHAIN_ID,
            "rpcUrl": self.rpc_url,
            "blockTime": self.block_time,
            "usdc": {
                "address": USDC_ADDRESS,
                "name": USDC_NAME,
                "version": USDC_VERSION,
                "decimals": USDC_DECIMALS,
            },
            "tokens": TOKENS,
            "permit2": {
                "address": PERMIT2_ADDRESS,
                "exactProxy": EXACT_PERMIT2_PROXY_ADDRESS,
                "uptoProxy": UPTO_PERMIT2_PROXY_ADDRESS,
            },
            "erc6492": smart_wallets,
            "minter": minter,
            "facilitators": facilitators,
            "payers": payers,
            "artifacts": str(artifacts_path(self.artifacts_dir or self.data_dir)),
            "anvilPid": self.process.pid if self.process else None,
        }

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def wait(self) -> int:
        """Waits until anvil exits (it should not, unless killed); returns its exit code."""
        assert self.process is not None
        return await self.process.wait()
