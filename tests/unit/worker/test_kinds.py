"""v1 kinds in /supported come from one place: a v2 kind plus its legacy-named twin."""

from x402fac.protocol import SupportedKind
from x402fac.worker.kinds import with_legacy


def test_a_network_with_a_legacy_name_is_listed_for_both_versions():
    extra = {"feePayer": "F"}
    kinds = with_legacy(
        [
            SupportedKind(x402_version=2, scheme="exact", network="eip155:84532"),
            SupportedKind(
                x402_version=2, scheme="exact", network="solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1", extra=extra
            ),
        ]
    )
    assert [(k.x402_version, k.network, k.extra) for k in kinds] == [
        (2, "eip155:84532", None),
        (1, "base-sepolia", None),
        (2, "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1", extra),
        (1, "solana-devnet", extra),
    ]
    assert all(k.scheme == "exact" for k in kinds)


def test_a_network_without_a_legacy_name_is_v2_only():
    kind = SupportedKind(x402_version=2, scheme="exact", network="nano:devnet", extra={"asset": "XNO"})
    assert with_legacy([kind]) == [kind]
