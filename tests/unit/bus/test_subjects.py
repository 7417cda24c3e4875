"""The NATS namespace: the ledger's subjects, spelled out, stay under the service prefix the bus
permissions grant (`x402.ledger.>`), and a family's subjects are named by family and action."""

from x402fac.bus import subjects


def test_every_ledger_subject_is_under_the_ledger_service_prefix():
    ledger = {name: value for name, value in vars(subjects).items() if name.startswith("LEDGER_")}
    assert len(ledger) == 20
    assert ledger.pop("LEDGER_QUEUE") == f"{subjects.SERVICE_PREFIX}.ledger"
    for name, value in ledger.items():
        assert value.startswith(f"{subjects.SERVICE_PREFIX}.ledger."), name
    assert len(set(ledger.values())) == len(ledger)


def test_family_subjects():
    assert subjects.verify("nano") == "x402.nano.verify"
    assert subjects.supported("evm") == "x402.evm.supported"
    assert subjects.detach("solana") == "x402.solana.detach"
    assert subjects.status("nano") == "x402.nano.status"
    assert subjects.queue_group("nano") == "x402.nano"
    assert subjects.settle("evm") == "x402work.settle.evm"
