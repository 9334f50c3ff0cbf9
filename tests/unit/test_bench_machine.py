"""The machine line under every bench table (tests/bench/machine.py): steal, calibration and versions."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import machine

# /proc/stat as Linux writes it (proc(5)): the summed "cpu" line first, then one line per core.
STAT_BEFORE = """cpu  1000 10 500 8000 40 0 20 430 0 0
cpu0 500 5 250 4000 20 0 10 215 0 0
cpu1 500 5 250 4000 20 0 10 215 0 0
intr 12345
"""
STAT_AFTER = """cpu  1600 10 700 8600 40 0 20 630 0 0
cpu0 800 5 350 4300 20 0 10 315 0 0
cpu1 800 5 350 4300 20 0 10 315 0 0
"""


def test_cpu_times_reads_the_summed_cpu_line_only():
    times = machine.cpu_times(STAT_BEFORE)
    assert times == {"user": 1000, "nice": 10, "system": 500, "idle": 8000, "iowait": 40, "irq": 0,
                     "softirq": 20, "steal": 430}


def test_steal_share_is_the_stolen_part_of_all_time_between_two_readings():
    before, after = machine.cpu_times(STAT_BEFORE), machine.cpu_times(STAT_AFTER)
    # user +600, system +200, idle +600, steal +200: 1600 jiffies in all, 200 of them stolen
    assert machine.steal_share(before, after) == pytest.approx(200 / 1600)


def test_an_old_kernel_without_a_steal_column_counts_none_stolen():
    before = machine.cpu_times("cpu  100 0 50 800\n")
    after = machine.cpu_times("cpu  200 0 80 900\n")
    assert before["steal"] == 0
    assert machine.steal_share(before, after) == 0


@pytest.mark.parametrize("before, after", [({}, {"steal": 1}), (None, None)])
def test_steal_share_without_two_readings_is_unknown(before, after):
    assert machine.steal_share(before, after) is None


def test_no_cpu_line_reads_as_nothing():
    assert machine.cpu_times("intr 1\nctxt 2\n") == {}
    assert machine.read_cpu_times("/nonexistent/stat") == {}


def test_calibration_gives_the_cpu_seconds_of_each_round():
    seconds = machine.calibrate(rounds=2, loops=10 ** 5)
    assert len(seconds) == 2 and all(s > 0 for s in seconds)


def test_the_description_names_the_machine_the_versions_and_what_disturbed_the_run():
    start = machine.Machine([0.80, 0.90, 0.85], 0.5, machine.cpu_times(STAT_BEFORE))
    text = start.describe(load_end=1.25, times_end=machine.cpu_times(STAT_AFTER))
    assert "%d cores" % os.cpu_count() in text
    assert "Python %s" % platform.python_version() in text
    assert "ansible-core " in text and "cryptography " in text and "OpenSSL" in text
    assert "10,000,000 additions: 0.85 s of CPU (0.80-0.90, 3 rounds)" in text
    assert "Load average 0.50 at the start, 1.25 at the end" in text
    assert "12.5 % of the machine's CPU time during the run went to other guests (steal)" in text


def test_without_a_steal_reading_the_description_says_nothing_of_it():
    text = machine.Machine([], 0.5, {}).describe(load_end=0.5, times_end={})
    assert "steal" not in text and "additions" not in text
