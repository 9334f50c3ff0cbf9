"""Where a one-task `ansible-playbook` run's wall-clock time goes, phase by phase, measured inside ansible-core's own
processes: what a case costs beyond the floor's ping playbook, split into the controller building the module's
payload, the module's process, and the rest.

For each run a `sitecustomize` module, put first on PYTHONPATH, wraps a few methods of ansible-core in the
`ansible-playbook` processes (the main one and its forked workers; module processes only import it) and appends
each call's wall-clock milliseconds to a log:

- `ActionBase._configure_module`: the payload, built on the controller, once per module and run: every module_util
  the module imports, parsed into an AST to find what it imports in turn (recursive_finder), and zipped;
- `ActionBase._execute_module`: the above, then sending the payload, the module's process, and parsing its result;
- `ActionBase._parse_returned_data`: the module's JSON result read back on the controller;
- `WorkerProcess._run`: the forked worker, the whole task;
- full garbage collections (generation 2), by process: a big heap makes each one cost tens of milliseconds.

What is left of the run's wall clock beyond the worker is the main process: start, reading the playbook and the
inventory, taking the task's result in (the callbacks walk every value of it), and exit. Benchmark tool only: it
wraps private ansible-core methods (ansible-core 2.19), and a method it cannot find is left out of the table.
"""

from __future__ import annotations

import collections
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SITECUSTOMIZE = '''
import os, sys, time
_LOG = os.environ.get("CERTOPS_PHASES_LOG")
if _LOG and os.path.basename(sys.argv[0] if sys.argv else "") == "ansible-playbook":
    import atexit, gc, importlib

    _BEGUN = time.monotonic()

    def _log(what, seconds):
        with open(_LOG, "a") as out:
            out.write("%d %s %.3f\\n" % (os.getpid(), what, seconds * 1000))

    def _wrap(module, owner, method, label):
        try:
            cls = getattr(importlib.import_module(module), owner)
            real = getattr(cls, method)
        except (ImportError, AttributeError):
            return

        def timed(*args, **kwargs):
            begun = time.monotonic()
            try:
                return real(*args, **kwargs)
            finally:
                _log(label, time.monotonic() - begun)
        setattr(cls, method, timed)

    _wrap("ansible.plugins.action", "ActionBase", "_configure_module", "configure_module")
    _wrap("ansible.plugins.action", "ActionBase", "_execute_module", "execute_module")
    _wrap("ansible.plugins.action", "ActionBase", "_parse_returned_data", "parse_returned_data")
    _wrap("ansible.executor.process.worker", "WorkerProcess", "_run", "worker")
    _MAIN, _GC = os.getpid(), {}

    def _collected(phase, info):
        if phase == "start":
            _GC["begun"] = time.monotonic()
        elif info.get("generation") == 2 and "begun" in _GC:
            _log("gc2_main" if os.getpid() == _MAIN else "gc2_worker", time.monotonic() - _GC.pop("begun"))
    gc.callbacks.append(_collected)
'''

ROWS = (
    ("wall", "the whole run (wall clock)"),
    ("configure_module", "controller: the module's payload built (module_utils parsed for imports, zipped)"),
    ("module", "the module: payload sent, its process run, until its result is back"),
    ("parse_returned_data", "controller: the module's JSON result parsed"),
    ("worker", "the forked worker, the whole task"),
    ("worker_rest", "of it, the rest: the task's arguments templated, the result passed on"),
    ("main", "the rest: start, playbook, the result taken in by the main process, exit"),
    ("gc2_worker", "full garbage collections in the forked worker (counted in its rows above)"),
    ("gc2_main", "full garbage collections in the main process (counted in its rows above)"),
)


def _one_run(cmd, env, log):
    if log.exists():
        log.unlink()
    begun = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = (time.monotonic() - begun) * 1000
    if proc.returncode != 0:
        raise SystemExit("phases: %s failed:\n%s" % (cmd[-1], proc.stdout[-3000:]))
    totals = collections.Counter()
    for line in log.read_text().splitlines() if log.exists() else ():
        _pid, what, ms = line.split()
        totals[what] += float(ms)
    totals["wall"] = wall
    if "execute_module" in totals:
        totals["module"] = totals["execute_module"] - totals["configure_module"] - totals["parse_returned_data"]
    if "worker" in totals:
        totals["main"] = wall - totals["worker"]
        if "execute_module" in totals:
            totals["worker_rest"] = totals["worker"] - totals["execute_module"]
    return totals


def measure(playbooks, runs, base_env):
    """{name: {phase: [milliseconds per run]}} for each playbook ({name: path}), the playbooks run in turn `runs`
    times after one warm-up round; wall clock of each run included."""
    work = Path(tempfile.mkdtemp(prefix="certops-phases-"))
    (work / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = work / "phases.log"
    env = dict(base_env, CERTOPS_PHASES_LOG=str(log),
               PYTHONPATH=os.pathsep.join(p for p in (str(work), base_env.get("PYTHONPATH")) if p))
    player = str(Path(sys.executable).parent / "ansible-playbook")
    found = {name: collections.defaultdict(list) for name in playbooks}
    try:
        for round_ in range(runs + 1):
            for name, path in playbooks.items():
                totals = _one_run([player, "-i", "localhost,", "-c", "local",
                                   "-e", "ansible_python_interpreter=%s" % sys.executable, str(path)], env, log)
                if round_:  # the first round warms the caches up
                    for what, ms in totals.items():
                        found[name][what].append(ms)
    finally:
        for leftover in work.iterdir():
            leftover.unlink()
        work.rmdir()
    return found


def table(found, reference):
    """Lines of a Markdown table: each phase's median milliseconds for each playbook, and each case's difference to
    the reference playbook's (its fastest-slowest run in brackets)."""
    names = list(found)
    head = "| phase (ms, median of %d runs) | %s |" % (
        len(found[reference]["wall"]), " | ".join(names + ["%s - %s" % (n, reference) for n in names
                                                           if n != reference]))
    lines = [head, "|---|" + "---:|" * (2 * len(names) - 1)]
    for key, label in ROWS:
        if not any(found[n].get(key) for n in names):
            continue
        cells = []
        for name in names:
            values = found[name].get(key) or [0.0]
            cells.append("%.0f (%.0f-%.0f)" % (statistics.median(values), min(values), max(values)))
        base = statistics.median(found[reference].get(key) or [0.0])
        cells += ["%+.0f" % (statistics.median(found[n].get(key) or [0.0]) - base) for n in names if n != reference]
        lines.append("| %s | %s |" % (label, " | ".join(cells)))
    return lines


def main():
    import argparse

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: testlib
    from testlib.ansible_run import env

    parser = argparse.ArgumentParser(description="Phases of one-task playbook runs (localhost, local connection), "
                                     "the first playbook the reference (a ping playbook, say)")
    parser.add_argument("playbooks", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    books = {path.stem: path for path in options.playbooks}
    if len(books) != len(options.playbooks):
        parser.error("give playbooks with distinct file names")
    print("\n".join(table(measure(books, options.runs, env()), options.playbooks[0].stem)))


if __name__ == "__main__":
    main()
