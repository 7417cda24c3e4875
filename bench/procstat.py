"""CPU time of processes (user + system, all threads, exited ones included), without psutil.

Read from the process's CPU-time clock (`clock_gettime` on the clock id of another pid), exact to the
nanosecond: /proc/<pid>/stat counts 10 ms ticks, which at one slow settle a second is the whole figure.
/proc/<pid>/stat remains the fallback where that clock is not readable.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

_TICKS = os.sysconf("SC_CLK_TCK")
_CPUCLOCK_SCHED = 2  # the kernel's encoding of a process's clock: ~pid << 3 | clock kind


def _clock_id(pid: int) -> int:
    return (~pid << 3) | _CPUCLOCK_SCHED


def _stat_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            raw = stat.read()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # The command name may hold spaces and parentheses: fields restart after the last ')'.
    fields = raw[raw.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds consumed so far by `pid` (0.0 once it is gone)."""
    try:
        return time.clock_gettime(_clock_id(pid))
    except OSError:
        return _stat_seconds(pid)


def wakeups(pid: int) -> int:
    """Times `pid`'s live threads went to sleep and were woken (voluntary context switches): at one
    request at a time, what a process costs is mostly how often it is woken, not what it does then."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/status", "rb") as status:
                for line in status:
                    if line.startswith(b"voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
        except OSError:  # the thread exited meanwhile
            continue
    return total


@dataclass
class CpuMeter:
    """CPU seconds (and wake-ups) per named group of processes between `start()` and `stop()`."""

    groups: dict[str, list[int]]
    _before: dict[int, float] = field(default_factory=dict)
    _woken: dict[int, int] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)
    woken: dict[str, int] = field(default_factory=dict)

    def start(self) -> None:
        pids = [pid for pids in self.groups.values() for pid in pids]
        self._woken = {pid: wakeups(pid) for pid in pids}
        self._before = {pid: cpu_seconds(pid) for pid in pids}

    def stop(self) -> dict[str, float]:
        self.used = {
            name: sum(max(cpu_seconds(pid) - self._before.get(pid, 0.0), 0.0) for pid in pids)
            for name, pids in self.groups.items()
        }
        self.woken = {
            name: sum(max(wakeups(pid) - self._woken.get(pid, 0), 0) for pid in pids)
            for name, pids in self.groups.items()
        }
        return self.used
