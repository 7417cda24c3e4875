"""The cluster is started once for tests/cluster and stopped (every process, by its id) at the end.

A failing test gets the tail of every process's log in its report; the logs stay in the cluster's
temporary directory, which is removed only when every test passed.
"""

import json
import time
from pathlib import Path

import pytest

from .harness import Cluster
from .load import Client, LedgerReader
from .payments import EvmPayments, NanoPayments, SolanaPayments

RESULTS = Path(__file__).parent / "results"
_running: list[Cluster] = []
_failures: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _running and "tests/cluster" in str(item.fspath):
        _failures.append(item.nodeid)
        report.sections.append(("cluster logs", _running[0].logs_report()))


@pytest.fixture(scope="session")
async def cluster():
    running = Cluster()
    _running.append(running)
    try:
        await running.start()
        yield running
    finally:
        await running.stop()
        _running.remove(running)
        if _failures:
            print(f"\ncluster logs kept in {running.logs}")
        else:
            running.remove()


class Payments:
    def __init__(self, cluster: Cluster) -> None:
        self.evm = EvmPayments(cluster.infos["evm"])
        self.nano = NanoPayments(cluster.infos["nano"])
        self.solana = SolanaPayments(cluster.infos["solana"])
        self.by_family = {"evm": self.evm, "nano": self.nano, "solana": self.solana}

    async def setup(self) -> None:
        for maker in self.by_family.values():
            await maker.setup()

    def makers(self) -> dict:
        return {family: maker.make for family, maker in self.by_family.items()}

    async def close(self) -> None:
        for maker in self.by_family.values():
            await maker.close()


@pytest.fixture(scope="session")
async def payments(cluster):
    made = Payments(cluster)
    await made.setup()
    yield made
    await made.close()


@pytest.fixture(scope="session")
async def client(cluster):
    made = Client(cluster.gateway_urls)
    yield made
    await made.close()


@pytest.fixture(scope="session")
async def ledger(cluster):
    reader = LedgerReader(cluster.nats_urls, cluster.credentials("ledger"))
    await reader.open()
    yield reader
    await reader.close()


@pytest.fixture(scope="session")
def results():
    """Figures for the closing note, written to tests/cluster/results/cluster-<time>.json."""
    found: dict = {}
    yield found
    if found:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"cluster-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps(found, indent=2, sort_keys=True))
        print(f"\ncluster figures: {path}\n{json.dumps(found, indent=2, sort_keys=True)}")
