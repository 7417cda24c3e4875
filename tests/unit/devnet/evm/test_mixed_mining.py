"""`--mixed-mining` (what `make run` uses): automine, plus a block every second even when idle."""

import asyncio

from tests.fixtures.evm import free_port
from x402fac.devnet.evm.node import EvmDevnet
from x402fac.devnet.evm.rpc import DevnetRpc


async def test_mixed_mining_mines_on_its_own_and_on_each_transaction(tmp_path_factory):
    devnet = EvmDevnet(
        host="127.0.0.1",
        port=free_port(),
        data_dir=tmp_path_factory.mktemp("evm-mixed"),
        mixed_mining=True,
        payers=1,
        signers=1,
        artifacts_dir=tmp_path_factory.getbasetemp() / "evm-artifacts",
    )
    info = await devnet.start()
    try:
        async with DevnetRpc(info["rpcUrl"]) as rpc:
            first = int(await rpc.call("eth_blockNumber"), 16)
            await asyncio.sleep(2.5)  # no transactions meanwhile
            later = int(await rpc.call("eth_blockNumber"), 16)
            assert later >= first + 2
            payer = info["payers"][0]["address"]
            await rpc.call("anvil_impersonateAccount", payer)
            sent = await rpc.call("eth_sendTransaction", {"from": payer, "to": payer, "value": "0x0"})
            receipt = await rpc.wait_receipt(sent)  # automine still mines it at once
            assert receipt["status"] == "0x1"
    finally:
        await devnet.stop()
