"""docs/settings.md is the catalogue's own output (`x402fac settings --markdown`): a setting added,
changed or documented in code and not regenerated fails here."""

from pathlib import Path

import pytest

from x402fac.cli.main import main
from x402fac.cli.settings import catalogue, markdown

REFERENCE = Path(__file__).resolve().parents[3] / "docs" / "settings.md"


def test_the_committed_reference_is_the_generated_one() -> None:
    assert REFERENCE.read_text() == markdown(), (
        "docs/settings.md differs from the catalogue: run "
        "`.venv/bin/x402fac settings --markdown > docs/settings.md`"
    )


def test_the_command_prints_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    main(["settings", "--markdown"])
    assert capsys.readouterr().out == markdown()


def test_every_variable_has_a_row_with_its_meaning() -> None:
    rows = {
        line.split("|")[1].strip(" `"): line for line in markdown().splitlines() if line.startswith("| `")
    }
    for variable in catalogue():
        name = variable.name.replace("{net}", "<NET>")
        assert name in rows, name
        assert rows[name].rstrip(" |").split("|")[-1].strip(), f"{name} has no meaning"
    assert "`X402FAC_EVM_<NET>_GAS_LIMIT` | `300000` | `workers.evm.networks[].gasLimit`" in markdown()
    assert "`X402FAC_EVM_SIGNER_KEYS` | (secret) | `workers.evm.signers.existingSecret`" in markdown()
