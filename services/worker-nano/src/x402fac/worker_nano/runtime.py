"""What the Nano worker keeps per network (node client, confirmation watcher), and the payment
`identify` decodes."""

from __future__ import annotations

from x402fac.nano import StateBlock

from .chain import ConfirmationWatcher, NanoNode
from .config import WORKER_DEFAULTS, NanoNetworkConfig

# The payer's signed send block is the whole payment: it is published as it is, so its hash (the
# payment id) is the transaction id, and nothing else needs to travel from identify to settle.
NanoPayment = StateBlock


class NanoRuntime:
    """One served network: its node client (failover between URLs) and confirmation watcher."""

    def __init__(
        self,
        config: NanoNetworkConfig,
        *,
        rpc_timeout: float = WORKER_DEFAULTS.rpc_timeout,
        confirm_poll: float = WORKER_DEFAULTS.confirm_poll,
    ) -> None:
        self.config = config
        self.node = NanoNode(config.rpc_urls, timeout=rpc_timeout)
        self.watcher = ConfirmationWatcher(self.node, confirm_poll)

    async def close(self) -> None:
        await self.watcher.close()
        await self.node.close()
