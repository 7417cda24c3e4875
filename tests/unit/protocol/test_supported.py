"""v1 kinds in /supported come from one place: a v2 kind plus its legacy-named twin."""

from x402fac.protocol import SupportedKind, SupportedResponse, merge_supported, with_legacy


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


def _kind(network: str, version: int = 2) -> SupportedKind:
    return SupportedKind(x402_version=version, scheme="exact", network=network)


def test_merged_parts_keep_kinds_in_order_and_list_signers_and_extensions_once():
    evm = SupportedResponse(
        kinds=[_kind("eip155:84532"), _kind("base-sepolia", 1)],
        signers={"eip155:*": ["0xA", "0xB"]},
        extensions=["eip2612GasSponsoring"],
    )
    # A second answer naming the same signer and extension (two schemes, or two replicas' views).
    evm_again = SupportedResponse(kinds=[_kind("eip155:8453")], signers={"eip155:*": ["0xB", "0xC"]})
    solana = SupportedResponse(
        kinds=[_kind("solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1")],
        signers={"solana:*": ["F"]},
        extensions=["eip2612GasSponsoring", "bazaar"],
    )
    merged = merge_supported([evm, evm_again, solana], ["bazaar", "payment-identifier"])
    assert [(k.x402_version, k.network) for k in merged.kinds] == [
        (2, "eip155:84532"),
        (1, "base-sepolia"),
        (2, "eip155:8453"),
        (2, "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"),
    ]
    assert merged.signers == {"eip155:*": ["0xA", "0xB", "0xC"], "solana:*": ["F"]}
    assert merged.extensions == ["eip2612GasSponsoring", "bazaar", "payment-identifier"]
    # The parts themselves are left as they were.
    assert evm.signers == {"eip155:*": ["0xA", "0xB"]} and evm_again.signers == {"eip155:*": ["0xB", "0xC"]}


def test_nothing_live_is_an_empty_answer_with_the_gateway_extensions():
    merged = merge_supported([], ["bazaar"])
    assert merged == SupportedResponse(extensions=["bazaar"])
