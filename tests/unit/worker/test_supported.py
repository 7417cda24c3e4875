"""A worker's `supported` answer: its schemes' parts merged, and each v2 kind's v1 twin added once."""

from x402fac.protocol import SupportedKind
from x402fac.worker import SupportedPart, supported_of


class Listing:
    """A scheme reduced to what supported_of reads."""

    def __init__(self, part: SupportedPart) -> None:
        self.part = part

    def supported(self) -> SupportedPart:
        return self.part


def test_two_schemes_are_listed_in_order_each_v2_exact_kind_with_its_v1_twin_once():
    exact = Listing(
        SupportedPart(
            kinds=[SupportedKind(x402_version=2, scheme="exact", network="eip155:84532")],
            signers={"eip155:*": ["0xA"]},
        )
    )
    upto = Listing(
        SupportedPart(
            kinds=[
                SupportedKind(x402_version=2, scheme="upto", network="eip155:84532"),
                SupportedKind(x402_version=2, scheme="upto", network="eip155:777"),  # no legacy name
            ],
            signers={"eip155:*": ["0xA"]},
            extensions=["eip2612GasSponsoring"],
        )
    )
    answer = supported_of([exact, upto])  # type: ignore[list-item]
    assert [(k.x402_version, k.scheme, k.network) for k in answer.kinds] == [
        (2, "exact", "eip155:84532"),
        (1, "exact", "base-sepolia"),
        (2, "upto", "eip155:84532"),  # x402 v1 has only `exact`: no twin
        (2, "upto", "eip155:777"),
    ]
    assert answer.signers == {"eip155:*": ["0xA"]}
    assert answer.extensions == ["eip2612GasSponsoring"]
