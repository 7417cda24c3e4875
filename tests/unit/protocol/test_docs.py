"""The README's reason-code table lists every code the enum has (the docs are the contract)."""

from pathlib import Path

from x402fac.protocol import REASON_DESCRIPTIONS, Reason

README = Path(__file__).resolve().parents[3] / "README.md"


def test_every_reason_has_a_description_and_a_readme_row():
    text = README.read_text()
    for reason in Reason:
        assert reason in REASON_DESCRIPTIONS, reason
        assert f"| `{reason.value}` |" in text, reason
