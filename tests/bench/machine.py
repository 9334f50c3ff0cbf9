"""What a bench ran on, written under its table: a ratio is only comparable with the machine it came from.

Besides the hardware and the versions that decide the speed of the work (Python, ansible-core, cryptography and
its OpenSSL, the system OpenSSL the probes handshake through), it records three things a shared virtual machine
hides:

- a **calibration**: the CPU seconds of a fixed pure-Python loop, the same work on every machine. A machine
  whose loop takes twice as long has slower cores, which scales the floor and the work together;
- the **load average** when the bench started and when it ended;
- the **steal**: the share of the run's CPU time that the hypervisor gave to other guests (``/proc/stat``). A
  wall-clock figure taken while that share was high counts time in which nothing of the bench ran.
"""

from __future__ import annotations

import os
import platform
import ssl
import statistics
import time

# /proc/stat's "cpu" line, in order (proc(5)); guest times are already counted in user and nice.
_CPU_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def cpu_times(stat_text):
    """The machine's summed CPU times (jiffies) from /proc/stat text, by field name; {} when it has no cpu line."""
    for line in stat_text.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            values = [int(v) for v in parts[1:1 + len(_CPU_FIELDS)]]
            return dict(zip(_CPU_FIELDS, values + [0] * (len(_CPU_FIELDS) - len(values))))
    return {}


def steal_share(before, after):
    """The share (0-1) of all CPU time between two cpu_times() readings that went to other guests; None when
    there is nothing to compare."""
    if not before or not after:
        return None
    total = sum(after.values()) - sum(before.values())
    if total <= 0:
        return None
    return (after["steal"] - before["steal"]) / total


def read_cpu_times(path="/proc/stat"):
    try:
        with open(path) as handle:
            return cpu_times(handle.read())
    except OSError:
        return {}


def calibrate(rounds=3, loops=10 ** 7):
    """CPU seconds of a fixed pure-Python loop (`loops` additions), once per round."""
    seconds = []
    for _round in range(rounds):
        begun = time.process_time()
        total = 0
        for number in range(loops):
            total += number
        seconds.append(time.process_time() - begun)
    return seconds


def _first(path, key):
    try:
        with open(path) as handle:
            for line in handle:
                name, _sep, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        pass
    return None


def _versions():
    found = ["Python %s" % platform.python_version()]
    try:
        from ansible.release import __version__ as ansible_version
        found.append("ansible-core %s" % ansible_version)
    except ImportError:
        pass
    try:
        import cryptography
        from cryptography.hazmat.backends.openssl.backend import backend
        found.append("cryptography %s (%s)" % (cryptography.__version__, backend.openssl_version_text()))
    except ImportError:
        pass
    found.append("system %s (the probes' handshakes)" % ssl.OPENSSL_VERSION)
    return found


class Machine:
    """Read at the start of a bench (`Machine.start()`), described at its end (`describe()`)."""

    def __init__(self, calibration, load, times, loops=10 ** 7):
        self.calibration, self.load_start, self.times_start, self.loops = calibration, load, times, loops

    @classmethod
    def start(cls, rounds=3, loops=10 ** 7):
        return cls(calibrate(rounds, loops), os.getloadavg()[0], read_cpu_times(), loops)

    def describe(self, *, load_end=None, times_end=None):
        load_end = os.getloadavg()[0] if load_end is None else load_end
        times_end = read_cpu_times() if times_end is None else times_end
        model = _first("/proc/cpuinfo", "model name") or platform.machine() or "unknown CPU"
        memory = _first("/proc/meminfo", "MemTotal")
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        parts = ["%s, %d cores (%d usable)" % (model, os.cpu_count() or 0, usable)]
        if memory and memory.split()[0].isdigit():
            parts.append("%.1f GB" % (int(memory.split()[0]) / 1024.0 / 1024.0))
        text = "Machine: %s; %s." % (", ".join(parts), ", ".join(_versions()))
        if self.calibration:
            text += " A pure-Python loop of {:,} additions: {:.2f} s of CPU ({:.2f}-{:.2f}, {} rounds).".format(
                self.loops, statistics.median(self.calibration), min(self.calibration), max(self.calibration),
                len(self.calibration))
        text += " Load average %.2f at the start, %.2f at the end" % (self.load_start, load_end)
        steal = steal_share(self.times_start, times_end)
        if steal is not None:
            text += "; %.1f %% of the machine's CPU time during the run went to other guests (steal)" % (100 * steal)
        return text + "."
