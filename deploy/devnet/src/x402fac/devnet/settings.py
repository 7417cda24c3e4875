"""What the devnets read from the environment, declared in the settings layer like every other
variable (`x402fac settings` lists it)."""

from dataclasses import dataclass

from x402fac.settings import setting


@dataclass(frozen=True, slots=True)
class DevnetSettings:
    root: str = setting(
        "X402FAC_DEVNET_ROOT",
        "",
        values=None,
        doc="the deploy/devnet folder (package.json, node_modules, contracts/); unset: the one beside "
        "this source tree",
    )
