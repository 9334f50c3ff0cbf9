"""The phases of a playbook run (tests/bench/phases.py): real ansible-playbook runs, the ansible-core methods it
times found and their times consistent with each other. Nothing here is a timing bound: only the order of the
phases, which holds on any machine (a phase contains the next)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import phases

from testlib.ansible_run import env

PLAY = """---
- name: Phases
  hosts: localhost
  gather_facts: false
  tasks:
%s"""


def test_every_phase_is_found_in_a_real_run_and_each_holds_the_next(tmp_path):
    ping = tmp_path / "ping.yml"
    ping.write_text(PLAY % "    - name: Ping\n      ansible.builtin.ping:\n")
    debug = tmp_path / "debug.yml"  # an action that runs no module: no payload, no module process
    debug.write_text(PLAY % "    - name: Debug\n      ansible.builtin.debug:\n        msg: hello\n")
    found = phases.measure({"ping": ping, "debug": debug}, 1, env())

    run = {key: values[0] for key, values in found["ping"].items()}
    for key in ("wall", "configure_module", "execute_module", "parse_returned_data", "worker", "module", "main",
                "worker_rest"):
        assert key in run, (key, run)
    # the payload, the module's process and the parsing are parts of _execute_module; it is part of the worker's
    # task, which is part of the run
    assert 0 < run["configure_module"] < run["execute_module"]
    assert 0 < run["parse_returned_data"] < run["execute_module"]
    assert run["module"] > 0
    assert run["execute_module"] < run["worker"] < run["wall"]
    assert run["main"] == run["wall"] - run["worker"]
    # debug runs no module: its worker ran, no payload was built
    assert "configure_module" not in found["debug"] and found["debug"]["worker"][0] > 0
    # each task, by its name, once on the one host, within its worker
    assert found["ping"]["calls of task: Ping"] == [1] and "task: Debug" not in found["ping"]
    assert 0 < run["task: Ping"] < run["worker"]
    assert found["debug"]["calls of task: Debug"] == [1]

    lines = phases.table(found, "ping")
    assert lines[0] == "| phase (ms, median of 1 runs) | ping | debug | debug - ping |"
    rows = {line.split(" | ")[0].lstrip("| "): line for line in lines[2:]}
    assert "the whole run (wall clock)" in rows
    # debug's payload row reads 0 (no payload), and its difference to ping's is minus ping's payload
    payload = rows["controller: the module's payload built (module_utils parsed for imports, zipped)"]
    assert payload.endswith("| -%.0f |" % run["configure_module"]), payload
    assert rows["task: Ping, in workers, summed over hosts (1/0 runs)"].endswith("| -%.0f |" % run["task: Ping"])
