"""`python -m bench.cprofile_run OUT.prof <x402fac args>`: an x402fac service whose profiler starts on SIGUSR1.

Start-up (imports, connections) stays out of the profile: the harness signals once the service is
warm; the statistics are written to OUT.prof when the service exits (SIGTERM drains it normally).
"""

import atexit
import cProfile
import signal
import sys

from x402fac.cli.main import main

profiler = cProfile.Profile()
signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())


@atexit.register
def _dump() -> None:
    profiler.disable()
    profiler.dump_stats(sys.argv[1])


if __name__ == "__main__":
    main(sys.argv[2:])
