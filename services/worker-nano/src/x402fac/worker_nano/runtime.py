"""What the Nano worker keeps per network (node client, confirmation watcher), and the payment
`identify` decodes."""

from __future__ import annotations

from x402fac.nano import StateBlock
from x402fac.worker import NetworkRuntime

from .chain import BlockReader, ConfirmationWatcher, NanoNode
from .config import NanoConfig, NanoNetworkConfig

# The payer's signed send block is the whole payment: it is published as it is, so its hash (the
# payment id) is the transaction id, and nothing else needs to travel from identify to settle.
NanoPayment = StateBlock


class NanoRuntime(NetworkRuntime[NanoNetworkConfig]):
    """One served network: its node client (failover between URLs), batched block reads and confirmation
    watcher."""

    worker_defaults = NanoConfig()

    def open(self) -> None:
        self.node = NanoNode(self.config.rpc_urls, timeout=self.rpc_timeout)
        self.watcher = ConfirmationWatcher(self.node, self.confirm_poll)
        self.blocks = BlockReader(self.node)

    async def close(self) -> None:
        await self.watcher.close()
        await self.node.close()
