"""A metric's child found once per process counts into the same series as `labels()` would."""

from prometheus_client import CollectorRegistry, Counter, Histogram

from x402fac.telemetry import labelled


def test_the_child_is_found_once_and_counts_into_its_own_series():
    registry = CollectorRegistry()
    requests = Counter("test_requests", "requests", ["route", "status"], registry=registry)
    latency = Histogram("test_seconds", "latency", ["route"], registry=registry)

    assert labelled(requests, "verify", "200") is labelled(requests, "verify", "200")
    assert labelled(requests, "verify", "200") is not labelled(requests, "verify", "503")
    labelled(requests, "verify", "200").inc()
    labelled(requests, "verify", "200").inc()
    labelled(requests, "settle", "200").inc()
    labelled(latency, "verify").observe(0.002)

    sample = registry.get_sample_value
    assert sample("test_requests_total", {"route": "verify", "status": "200"}) == 2
    assert sample("test_requests_total", {"route": "settle", "status": "200"}) == 1
    assert sample("test_requests_total", {"route": "verify", "status": "503"}) == 0
    assert sample("test_seconds_count", {"route": "verify"}) == 1
