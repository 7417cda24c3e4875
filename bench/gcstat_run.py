"""`python -m bench.gcstat_run OUT.json <x402fac args>`: an x402fac service that notes every garbage
collection (generation, pause) from SIGUSR1 on (the harness signals once the service is warm: start-up
collections stay out) and writes the tally to OUT.json when it exits (SIGTERM drains it)."""

import atexit
import gc
import json
import os
import signal
import sys
import time

import x402fac.telemetry
from x402fac.cli.main import main

if "--no-freeze" in sys.argv:  # the heap as it was before services froze it at start (a comparison)
    sys.argv.remove("--no-freeze")
    x402fac.telemetry.freeze_startup = lambda: None

pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
_started = 0.0


def _note(phase: str, info: dict) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
    else:
        pauses[info["generation"]].append(time.perf_counter() - _started)


signal.signal(signal.SIGUSR1, lambda *_: gc.callbacks.append(_note))
if os.environ.get("BENCH_GC_THRESHOLD"):  # other collection thresholds, for a comparison
    gc.set_threshold(*(int(n) for n in os.environ["BENCH_GC_THRESHOLD"].split(",")))


@atexit.register
def _dump() -> None:
    summary = {
        f"gen{generation}": {
            "count": len(values),
            "total_ms": round(1000 * sum(values), 2),
            "max_ms": round(1000 * max(values, default=0.0), 2),
        }
        for generation, values in pauses.items()
    }
    summary["frozen"] = gc.get_freeze_count()
    with open(sys.argv[1], "w") as out:
        json.dump(summary, out)


if __name__ == "__main__":
    main(sys.argv[2:])
