"""`python -m bench.cprofile_run OUT.prof <x402fac args>`: an x402fac service whose profiler starts on SIGUSR1.

Start-up (imports, connections) stays out of the profile: the harness signals once the service is
warm; the statistics are written to OUT.prof when the service exits (SIGTERM drains it normally).
"""

import atexit
import cProfile
import os
import signal
import sys
import time

from x402fac.cli.main import main

# BENCH_PROFILE_CPU=1: CPU time (a send that lets the peer run is not charged to the sender), else wall time
profiler = cProfile.Profile(time.process_time) if os.environ.get("BENCH_PROFILE_CPU") else cProfile.Profile()
signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())


@atexit.register
def _dump() -> None:
    profiler.disable()
    profiler.dump_stats(sys.argv[1])


if __name__ == "__main__":
    main(sys.argv[2:])
