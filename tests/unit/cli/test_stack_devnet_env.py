"""`x402fac run`'s EVM worker serves the devnet's own tokens by Permit2, with EIP-2612 gas sponsoring."""

import json

from eth_account import Account

from x402fac.cli.stack import devnet_worker_env
from x402fac.worker_evm.config import load_config


def test_the_evm_worker_of_a_local_run_accepts_the_devnet_tokens(tmp_path) -> None:
    signer = Account.create()
    tokens = {"erc20": {"address": "0x7E57000000000000000000000000000000000020"}}
    info = {
        "network": "eip155:84532",
        "chainId": 84532,
        "rpcUrl": "http://127.0.0.1:9",
        "usdc": {"address": "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "name": "USDC", "version": "2"},
        "tokens": tokens,
        "facilitators": [{"address": signer.address, "privateKey": "0x" + bytes(signer.key).hex()}],
    }
    (tmp_path / "devnet-evm.json").write_text(json.dumps(info))
    env = devnet_worker_env("evm", tmp_path)
    (network,) = load_config({**env, "X402FAC_DATA_DIR": str(tmp_path)}).networks
    assert network.allowed_assets == frozenset({tokens["erc20"]["address"].lower()})
    assert network.gas_sponsoring == frozenset({"eip2612GasSponsoring", "erc20ApprovalGasSponsoring"})
    assert devnet_worker_env("nano", tmp_path) == {}
