"""Where a one-task `ansible-playbook` run's wall-clock time goes, phase by phase, measured inside ansible-core's own
processes: what a case costs beyond the floor's ping playbook, split into the controller building the module's
payload, the module's process, and the rest.

For each run a `sitecustomize` module, put first on PYTHONPATH, wraps a few methods of ansible-core in the
`ansible-playbook` processes (the main one and its forked workers; module processes only import it) and appends
each call's wall-clock milliseconds to a log:

- `ActionBase._configure_module`: the payload, built on the controller: the first time in a run, every module_util
  the module imports is parsed into an AST to find what it imports in turn (recursive_finder), and zipped; later
  calls for the same module read AnsiballZ's cache;
- `ActionBase._execute_module`: the above, then sending the payload, the module's process, and parsing its result;
- `ActionBase._parse_returned_data`: the module's JSON result read back on the controller;
- `WorkerProcess._run`: the forked worker, the whole task (until it hands its result over:
  `FinalQueue.send_task_result`);
- `TaskExecutor.run`: each task on each host, by the task's name (a fleet's rows sum over its hosts);
- full garbage collections (generation 2), by process: a big heap makes each one cost tens of milliseconds.
- CPU seconds (user + system): the main process's at its exit, and each forked worker's and its module processes'
  when it hands its result over. Summed over a fleet's workers, their wall-clock rows overlap and stretch with the
  load; their CPU rows add up, and tell what a change saves on a machine whose cores the workers share.

What is left of the run's wall clock beyond the worker is the main process: start, reading the playbook and the
inventory, taking the task's result in (the callbacks walk every value of it), and exit (with several workers,
whose times overlap, there is no such row). `--fleet N` runs the bench's fleet case with nothing to do on any host:
diagnose and remediate (one batch) over N hosts against a ping play over them, and a play of the collect module
alone. Benchmark tool only: it wraps private ansible-core methods (ansible-core 2.19), and a method it cannot find is
left out of the table.
"""

from __future__ import annotations

import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import run_bench  # tests/bench/run_bench.py: the bench's playbooks and arguments (it puts tests/ on sys.path)

from testlib import pki
from testlib.ansible_run import ROOT, env
from testlib.servers import Nginx

SITECUSTOMIZE = '''
import os, sys, time
_LOG = os.environ.get("CERTOPS_PHASES_LOG")
if _LOG and os.path.basename(sys.argv[0] if sys.argv else "") == "ansible-playbook":
    import gc, importlib

    def _log(what, seconds):
        with open(_LOG, "a") as out:
            out.write("%d\\t%s\\t%.3f\\n" % (os.getpid(), what, seconds * 1000))

    def _wrap(module, owner, method, label):
        try:
            cls = getattr(importlib.import_module(module), owner)
            real = getattr(cls, method)
        except (ImportError, AttributeError):
            return

        def timed(self, *args, **kwargs):
            begun = time.monotonic()
            try:
                return real(self, *args, **kwargs)
            finally:
                _log(label(self) if callable(label) else label, time.monotonic() - begun)
        setattr(cls, method, timed)

    _wrap("ansible.plugins.action", "ActionBase", "_configure_module", "configure_module")
    _wrap("ansible.plugins.action", "ActionBase", "_execute_module", "execute_module")
    _wrap("ansible.plugins.action", "ActionBase", "_parse_returned_data", "parse_returned_data")
    # the worker's whole task: timed until it hands its result over (FinalQueue.send_task_result), and logged then,
    # before the main process can end the run and terminate a worker still running (a row was lost so under load)
    _WORKER = {}

    def _first(module, owner, method, hook):
        """hook() before each call of the method, where ansible-core has it."""
        cls = getattr(importlib.import_module(module), owner, None)
        real = getattr(cls, method, None)
        if real is None:
            return

        def hooked(self, *args, **kwargs):
            hook()
            return real(self, *args, **kwargs)
        setattr(cls, method, hooked)

    def _worker_done():
        if "begun" in _WORKER:
            _log("worker", time.monotonic() - _WORKER.pop("begun"))
            # CPU seconds since the fork (a forked process's own start at zero): the worker's, and those of the
            # module processes it ran and waited for
            cpu = os.times()
            _log("cpu_worker", cpu.user + cpu.system)
            _log("cpu_modules", cpu.children_user + cpu.children_system)

    _first("ansible.executor.process.worker", "WorkerProcess", "_run",
           lambda: _WORKER.__setitem__("begun", time.monotonic()))
    _first("ansible.executor.task_queue_manager", "FinalQueue", "send_task_result", _worker_done)
    # one task on one host (or its loop), in the forked worker
    _wrap("ansible.executor.task_executor", "TaskExecutor", "run",
          lambda executor: "task: " + " ".join(str(executor._task.get_name()).split()))
    _MAIN, _GC = os.getpid(), {}

    def _main_done():
        if os.getpid() == _MAIN:  # (a worker inherits this hook, and leaves by os._exit: it never runs there)
            cpu = os.times()
            _log("cpu_main", cpu.user + cpu.system)
    import atexit
    atexit.register(_main_done)

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
    ("cpu_main", "CPU (ms of user + system): the main process"),
    ("cpu_worker", "CPU: the forked workers, summed (each from its fork until it hands its result over)"),
    ("cpu_modules", "CPU: the module processes the workers ran, summed"),
)


def _one_run(cmd, run_env, log):
    if log.exists():
        log.unlink()
    begun = time.monotonic()
    proc = subprocess.run(cmd, env=run_env, capture_output=True, text=True, check=False)
    wall = (time.monotonic() - begun) * 1000
    if proc.returncode != 0:
        raise SystemExit("phases: %s failed:\n%s" % (cmd[-1], proc.stdout[-3000:]))
    totals = collections.Counter()
    for line in log.read_text().splitlines() if log.exists() else ():
        _pid, what, ms = line.split("\t")
        totals[what] += float(ms)
        if what in ("worker", "configure_module") or what.startswith("task: "):
            totals["calls of " + what] += 1
    totals["wall"] = wall
    if "execute_module" in totals:
        totals["module"] = totals["execute_module"] - totals["configure_module"] - totals["parse_returned_data"]
    if "worker" in totals:
        if totals["calls of worker"] == 1:  # with several workers their times overlap: no "rest" of the wall clock
            totals["main"] = wall - totals["worker"]
        if "execute_module" in totals:
            totals["worker_rest"] = totals["worker"] - totals["execute_module"]
    return totals


def measure(playbooks, runs, base_env, args=None):
    """{name: {phase: [milliseconds per run]}} for each playbook ({name: path}), the playbooks run in turn `runs`
    times after one warm-up round; wall clock of each run included. args: ansible-playbook's arguments before the
    playbook (default: localhost, local connection, this Python)."""
    work = Path(tempfile.mkdtemp(prefix="certops-phases-"))
    (work / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = work / "phases.log"
    run_env = dict(base_env, CERTOPS_PHASES_LOG=str(log),
                   PYTHONPATH=os.pathsep.join(p for p in (str(work), base_env.get("PYTHONPATH")) if p))
    player = str(Path(sys.executable).parent / "ansible-playbook")
    found = {name: collections.defaultdict(list) for name in playbooks}
    try:
        for round_ in range(runs + 1):
            for name, path in playbooks.items():
                totals = _one_run([player] + list(args or run_bench.LOCALHOST) + [str(path)], run_env, log)
                if round_:  # the first round warms the caches up
                    for what, ms in totals.items():
                        found[name][what].append(ms)
    finally:
        shutil.rmtree(str(work), ignore_errors=True)
    return found


def table(found, reference):
    """Lines of a Markdown table: each phase's median milliseconds for each playbook, and each case's difference to
    the reference playbook's (its fastest-slowest run in brackets)."""
    names = list(found)
    head = "| phase (ms, median of %d runs) | %s |" % (
        len(found[reference]["wall"]), " | ".join(names + ["%s - %s" % (n, reference) for n in names
                                                           if n != reference]))
    lines = [head, "|---|" + "---:|" * (2 * len(names) - 1)]
    tasks = sorted({key for n in names for key in found[n] if key.startswith("task: ")},
                   key=lambda key: -max(statistics.median(found[n].get(key) or [0.0]) for n in names))
    rows = list(ROWS) + [("calls of configure_module", "calls of _configure_module (a count, not ms)")]
    for key in tasks:
        calls = "/".join("%.0f" % statistics.median(found[n].get("calls of " + key) or [0]) for n in names)
        rows.append((key, "%s, in workers, summed over hosts (%s runs)" % (key, calls)))
    for key, label in rows:
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


def fleet(count=60, runs=3, forks=10):
    """The table for the bench's fleet case (run_bench.make_fleet: `count` inventory hosts, one declared nginx site
    each, served by one real nginx), its expired sites renewed first so that no host has anything to do: a play of
    backend_cert_info over the declared sites alone, playbooks/diagnose.yml and playbooks/remediate.yml (one batch)
    against a ping play over the same hosts and forks."""
    work = Path(tempfile.mkdtemp(prefix="certops-phases-fleet-"))
    try:
        ca = pki.CA("Bench", key_slot="bench-ca")
        sites, expired, inventory = run_bench.make_fleet(work, ca, count)
        ping = run_bench.fleet_ping_playbook(work)
        collect = work / "fleet-collect.yml"  # the collect module alone, over each host's declared sites
        collect.write_text("---\n- name: Collect on every backend\n  hosts: backends\n  gather_facts: false\n  tasks:\n"
                           "    - name: Collect\n      certops.backend_tls.backend_cert_info:\n"
                           "        sites: \"{{ cert_remediation_sites }}\"\n")
        with Nginx(work / "fleet-nginx", sites) as nginx:
            run_bench.renew_expired(sites, expired, ca, nginx)
            playbooks = {"ping play": ping, "collect only": collect, "diagnose": ROOT / "playbooks" / "diagnose.yml",
                         "remediate": ROOT / "playbooks" / "remediate.yml"}
            found = measure(playbooks, runs, env(), args=["-i", str(inventory), "-f", str(forks),
                                                          "-e", "cert_remediation_serial=%d" % count])
        return table(found, "ping play")
    finally:
        shutil.rmtree(str(work), ignore_errors=True)


def main():
    import argparse

    parser = argparse.ArgumentParser(description="Phases of playbook runs: one-task playbooks on localhost (local "
                                     "connection), the first the reference (a ping playbook, say); or --fleet N: "
                                     "the bench's fleet of N hosts, diagnose and remediate against a ping play")
    parser.add_argument("playbooks", nargs="*", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fleet", type=int, metavar="HOSTS")
    parser.add_argument("--forks", type=int, default=10)
    options = parser.parse_args()
    if options.fleet:
        print("\n".join(fleet(options.fleet, options.runs, options.forks)))
        return
    books = {path.stem: path for path in options.playbooks}
    if not books or len(books) != len(options.playbooks):
        parser.error("give playbooks with distinct file names, or --fleet")
    print("\n".join(table(measure(books, options.runs, env()), options.playbooks[0].stem)))


if __name__ == "__main__":
    main()
