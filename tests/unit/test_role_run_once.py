"""The role's templated `run_once` values (roles/cert_remediation/tasks).

ansible-core's linear strategy templates a task's `run_once` in its main process, host after host, until it is true.
The role uses that to skip a task every host would skip with one skip instead of a forked worker per host; but where
the value is false, an expression that walks every host's variables (`hostvars`) is evaluated once per host: hosts²
variable lookups (over 60 hosts a per-host skip took 4.9 s that way against 1.2 s without; measured with a callback
timing each task). So each such value reads one fact that a `run_once` `set_fact` of the role decided for the batch.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

TASKS = Path(__file__).resolve().parents[2] / "roles" / "cert_remediation" / "tasks"


def _tasks(items):
    for task in items or []:
        yield task
        for section in ("block", "rescue", "always"):
            yield from _tasks(task.get(section))


def _all_tasks():
    for path in sorted(TASKS.glob("*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text())):
            yield path.name, task


def test_each_templated_run_once_reads_one_fact_the_role_sets_once():
    facts_set_once = {name for _file, task in _all_tasks() if task.get("run_once") is True
                      for name in (task.get("ansible.builtin.set_fact") or {})}
    templated = [(file, task["name"], task["run_once"]) for file, task in _all_tasks()
                 if isinstance(task.get("run_once"), str)]
    assert len(templated) == 2, templated  # the remediation include and the final fail
    for file, name, value in templated:
        match = re.fullmatch(r"\{\{ (?:not \()?(\w+) \| bool\)? \}\}", value)
        assert match, (file, name, value)
        assert match.group(1) in facts_set_once, (file, name, value)
