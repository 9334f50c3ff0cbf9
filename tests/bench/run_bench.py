"""`make bench`: speed and memory of backend_cert_info, measured in one run on this machine.

Every figure is a median of wall-clock runs of real `ansible-playbook` processes (local connection),
reported beside the playbook floor (a one-task ping playbook) measured in the same run, so ratios
hold even on a noisy shared machine. Writes the tables to stdout and, with --write, into
docs/performance.md between the BENCH markers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from machine import Machine  # noqa: E402  (tests/bench/machine.py)

from testlib import pki  # noqa: E402
from testlib.ansible_run import COLLECTIONS, ROOT, env  # noqa: E402
from testlib.servers import Nginx, free_port  # noqa: E402

PLAYBOOK_HEAD = """---
- name: Bench
  hosts: localhost
  gather_facts: false
  tasks:
"""


# ansible-playbook's arguments for a one-host run: localhost, local connection, this Python
LOCALHOST = ("-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable)


def playbook(workdir, name, tasks):
    path = Path(workdir) / ("%s.yml" % name)
    path.write_text(PLAYBOOK_HEAD + tasks)
    return path


class Seconds(float):
    """The wall-clock seconds of one run, carrying the CPU seconds (user + system) of its whole process tree: the
    command and every process it waited for (Ansible's forked workers and the modules they ran). On a shared
    virtual machine the CPU a run needs moves much less than its wall clock, which also counts the time other
    guests held the cores."""

    def __new__(cls, wall, cpu):
        seconds = float.__new__(cls, wall)
        seconds.cpu = cpu
        return seconds


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(cmd):
    """(CompletedProcess, Seconds) of one run of cmd."""
    start, start_cpu = time.monotonic(), _children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env(), check=False)
    return proc, Seconds(time.monotonic() - start, _children_cpu() - start_cpu)


class Timing(float):
    """Median seconds of several runs, carrying the fastest and the slowest run: the spread; and the CPU seconds
    of each run when they were measured (runs given as Seconds)."""

    def __new__(cls, times):
        timing = float.__new__(cls, statistics.median(times))
        timing.low, timing.high = min(times), max(times)
        timing.cpu = [t.cpu for t in times if isinstance(t, Seconds)]
        return timing


def run_once(path):
    """Seconds of one ansible-playbook run of `path` (local connection); SystemExit when it fails."""
    cmd = [str(Path(sys.executable).parent / "ansible-playbook")] + list(LOCALHOST) + [str(path)]
    proc, elapsed = _run(cmd)
    if proc.returncode != 0:
        raise SystemExit("bench playbook %s failed:\n%s\n%s" % (path, proc.stdout[-3000:], proc.stderr[-2000:]))
    return elapsed


def timed(path, runs):
    """Median seconds of `runs` ansible-playbook runs (one warm-up first), with their spread."""
    run_once(path)
    return Timing([run_once(path) for _attempt in range(runs)])


def alternating(run_case, run_reference, runs):
    """The case's Timing over `runs` pairs of runs, the reference's run and the case's in turn (one warm-up each
    first), carrying the pairs (.pairs: [(reference Seconds, case Seconds)]).

    On a shared machine the load moves within minutes: a floor timed at the start of the bench and a case timed
    later see different machines. Each pair sees about the same one, so the ratio within a pair is the figure that
    can reproduce; the table gives its median and its fastest and slowest pair, in wall clock and in CPU seconds."""
    run_reference()
    run_case()
    pairs = [(run_reference(), run_case()) for _pair in range(runs)]
    timing = Timing([case for _reference, case in pairs])
    timing.pairs = pairs
    return timing


def pair_ratios(timing):
    """(wall-clock ratios, CPU ratios) of each pair, case over reference, sorted; ([], []) without pairs."""
    pairs = getattr(timing, "pairs", None) or []
    return (sorted(case / reference for reference, case in pairs),
            sorted(case.cpu / reference.cpu for reference, case in pairs if reference.cpu))


def timed_against(path, reference_path, runs):
    """A one-task case timed in pairs with the floor's ping playbook (see alternating)."""
    return alternating(lambda: run_once(path), lambda: run_once(reference_path), runs)


def loop_case(work, name, task, items, sample, floor, label, floor_playbook):
    """A playbook calling the module once per item (task uses {{ item }}); timed over `sample` items and
    scaled to all of them. Returns a table row.

    What the loop costs beyond the floor is taken from one pair of runs, the floor's playbook then the loop's (after
    a warm-up of each), so that both see the same machine: a call that costs a few milliseconds (cert_chain_verify
    on the controller, in Ansible's own process) gives a difference well inside a floor timed minutes earlier."""
    looped = items[:sample] if sample else items
    (work / ("%s.json" % name)).write_text(json.dumps(looped))
    loop = playbook(work, name, task + "      loop: \"{{ lookup('file', '%s') | from_json }}\"\n" % (
        work / ("%s.json" % name)))
    ((reference, seconds),) = timed_against(loop, floor_playbook, 1).pairs
    if seconds <= reference:  # a sample too small to rise above one pair's noise: no figure, rather than a negative
        return ("%s (%d timed: within one pair's noise, no figure; a larger --loop-sample gives one)"
                % (label, len(looped)), float("nan"), floor)
    scaled = floor + (seconds - reference) * len(items) / len(looped)
    return ("%s%s" % (label, " (%d timed, scaled)" % len(looped) if sample else ""), scaled, floor)


def least_probe_playbook(work, name, endpoints):
    """A playbook of one task of tests/bench/least_probe.py (copied into the work directory's library/, where
    ansible-playbook finds a playbook's own modules) over endpoints ([{host, port, server_name}]), given through a
    file lookup as the collection's endpoints are: the least a module can do for them, a reference for what a bound
    leaves to the collection's own work."""
    library = work / "library"
    library.mkdir(exist_ok=True)
    (library / "least_probe.py").write_text((HERE / "least_probe.py").read_text())
    (work / ("%s.json" % name)).write_text(json.dumps(endpoints))
    return playbook(work, name, "    - name: The handshakes alone\n      least_probe:\n"
                    "        endpoints: \"{{ lookup('file', '%s') | from_json }}\"\n"
                    "      register: least\n"
                    "      failed_when: least.chains | length != %d\n" % (work / ("%s.json" % name), len(endpoints)))


def make_files(directory, count, ca, slot="bench", distinct_keys=False, mixed=False):
    """count leaf + intermediate bundles for distinct names; with distinct_keys each leaf has its own key
    (EC P-256, every tenth RSA 2048), else all share one. mixed (what a real /etc/ssl holds): of every 50
    files, 5 DER leaves, 5 cert+key files (HAProxy's layout), 5 bundles that carry the root too, and one
    file that is no certificate; the rest leaf + intermediate PEM bundles."""
    directory.mkdir(parents=True, exist_ok=True)
    shared = pki.new_key(cache_slot=slot)
    for index in range(count):
        key = (pki.new_key("rsa", 2048) if index % 10 == 0 else pki.new_key()) if distinct_keys else shared
        name = "host%05d" % index
        kind = index % 50 if mixed else -1
        if kind == 49:
            (directory / ("%s.pem" % name)).write_text("not a certificate: a note someone left here\n")
            continue
        leaf = ca.leaf("%s.bench.test" % name, key=key)
        if 0 <= kind < 5:
            (directory / ("%s.der" % name)).write_bytes(leaf.der)
        elif 5 <= kind < 10:
            (directory / ("%s.pem" % name)).write_text(leaf.pem + ca.intermediate.pem + leaf.key_pem())
        elif 10 <= kind < 15:
            (directory / ("%s.pem" % name)).write_text(leaf.pem + ca.intermediate.pem + ca.root.pem)
        else:
            (directory / ("%s.pem" % name)).write_text(leaf.pem + ca.intermediate.pem)
    return sorted(str(p) for p in directory.iterdir())


def peak_memory(directory):
    """Peak RSS (MB) of the module's own main() -- collect, exit_json and its JSON -- over directory."""
    code = (
        "import os, resource, sys\n"
        "sys.path.insert(0, %r)\n"
        "from ansible.module_utils.testing import patch_module_args\n"
        "from ansible_collections.certops.backend_tls.plugins.modules import backend_cert_info\n"
        "out, sys.stdout = sys.stdout, open(os.devnull, 'w')\n"
        "try:\n"
        "    with patch_module_args({'paths': [%r]}):\n"
        "        backend_cert_info.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "out.write('%%.1f' %% (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))\n"
    ) % (str(COLLECTIONS), str(directory))
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def run_cmd(cmd):
    """Seconds of one run of cmd; SystemExit naming the failed tasks when it fails."""
    proc, elapsed = _run(cmd)
    if proc.returncode != 0:
        failures = [line for line in proc.stdout.splitlines() if line.startswith(("fatal:", "failed:"))]
        shown = "\n".join(failures[:5]) or proc.stdout[-3000:]
        raise SystemExit("bench command failed: %s\n%s" % (" ".join(cmd), shown))
    return elapsed


def timed_cmd(cmd, runs):
    """`runs` runs of cmd (Seconds: wall clock and CPU) as a Timing."""
    return Timing([run_cmd(cmd) for _attempt in range(runs)])


def bench_role(work, runs, floor):
    """Diagnose over the whole lab, and one backend remediated end to end (pre-flight to post-verify)."""
    sys.path.insert(0, str(HERE.parent / "lab"))
    import lab as labctl

    directory = work / "lab"
    labctl.up(directory)
    playbook_bin = str(Path(sys.executable).parent / "ansible-playbook")
    inventory = str(directory / "inventory.yml")
    try:
        diagnose = timed_cmd([playbook_bin, "-i", inventory, str(ROOT / "playbooks" / "diagnose.yml")], runs)
        # forced: every run pushes, tests, reloads and re-verifies although the site is healthy after the first
        subprocess.run([playbook_bin, "-i", inventory, str(ROOT / "playbooks" / "remediate.yml"), "--limit",
                        "backend-shop"], capture_output=True, env=env(), check=True)
        remediate = timed_cmd([playbook_bin, "-i", inventory, str(ROOT / "playbooks" / "remediate.yml"),
                               "--limit", "backend-shop", "-e", "cert_remediation_force=true"], runs)
    finally:
        labctl.down(directory)
    return [("diagnose, whole lab (4 backends, 4 hosts)", diagnose, floor),
            ("remediate one backend end to end (pre-flight, backup, push, test, reload, re-verify)", remediate, floor)]


def make_fleet(work, ca, count):
    """count backends, one inventory host each, one declared nginx site each on its own port, with distinct keys
    (EC P-256, every tenth RSA 2048) and names; every tenth site serves (and holds on disk) an expired
    certificate. Returns (sites, expired names, inventory path)."""
    certdir = work / "fleet-certs"
    certdir.mkdir()
    sites, expired, hosts = [], set(), {}
    for index in range(count):
        name = "fleet%03d" % index
        fqdn = "%s.fleet.test" % name
        key = pki.new_key("rsa", 2048) if index % 10 == 0 else pki.new_key()
        leaf = ca.leaf(fqdn, key=key, **({"days": 20, "start_days": -40} if index % 10 == 3 else {}))
        if index % 10 == 3:
            expired.add(name)
        cert = pki.write(certdir / ("%s.crt" % name), ca.chain_pem(leaf))
        keyfile = pki.write(certdir / ("%s.key" % name), pki.Issued(None, key).key_pem(), mode=0o600)
        port = free_port()
        sites.append({"name": name, "port": port, "server_names": [fqdn], "cert": cert, "key": keyfile})
        hosts["backend-%s" % name] = {"cert_remediation_sites": [{
            "name": name, "server_type": "nginx", "cert_path": cert, "key_path": keyfile,
            "endpoint": {"host": "127.0.0.1", "port": port, "server_name": fqdn}, "server_names": [fqdn]}]}
    (work / "fleet-reports").mkdir()
    (work / "fleet-source").mkdir()
    inventory = {"backends": {"hosts": hosts, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "cert_remediation_ca_path": pki.write(work / "fleet-root.pem", ca.root.pem),
        "cert_remediation_source_dir": str(work / "fleet-source"),
        "cert_remediation_backup_dir": str(work / "fleet-backups"),
        "cert_remediation_report_dir": str(work / "fleet-reports"),
        "cert_remediation_reload": "command"}}}
    path = work / "fleet-inventory.json"
    path.write_text(json.dumps(inventory, indent=2))
    return sites, expired, path


def fleet_actions(work):
    """{host: (action of each site,)} from the role's report of the last run."""
    report = json.loads((work / "fleet-reports" / "report.json").read_text())
    return {host: tuple(site["action"] for site in entry["sites"]) for host, entry in report["hosts"].items()}


def fleet_ping_playbook(work):
    """The fleet's reference: a ping play over every host of the fleet's inventory (group backends)."""
    ping = work / "fleet-ping.yml"
    ping.write_text("---\n- name: Ping every backend\n  hosts: backends\n  gather_facts: false\n  tasks:\n"
                    "    - name: Ping\n      ansible.builtin.ping:\n")
    return ping


def renew_expired(sites, expired, ca, nginx):
    """The fleet's expired sites renewed in place (a new key and certificate each) and nginx reloaded: the role then
    finds nothing to do on any host."""
    for site in sites:
        if site["name"] in expired:
            key = pki.new_key()
            pki.write(site["cert"], ca.chain_pem(ca.leaf(site["server_names"][0], key=key)))
            pki.write(site["key"], pki.Issued(None, key).key_pem(), mode=0o600)
    subprocess.run(nginx.reload_command, check=True, capture_output=True)
    time.sleep(1)


def bench_fleet(work, ca, count, runs, forks):
    """diagnose and a remediate with nothing to do over `count` inventory hosts, against a ping play over the
    same hosts with the same forks (the reference for this case)."""
    sites, expired, inventory = make_fleet(work, ca, count)
    playbook_bin = str(Path(sys.executable).parent / "ansible-playbook")
    ping = fleet_ping_playbook(work)
    base = [playbook_bin, "-i", str(inventory), "-f", str(forks)]
    with Nginx(work / "fleet-nginx", sites) as nginx:
        diagnose = alternating(lambda: run_cmd(base + [str(ROOT / "playbooks" / "diagnose.yml")]),
                               lambda: run_cmd(base + [str(ping)]), runs)
        ping_play = Timing([reference for reference, _case in diagnose.pairs])
        want = {"backend-%s" % s["name"]: ("push" if s["name"] in expired else "none",) for s in sites}
        if fleet_actions(work) != want:
            raise SystemExit("fleet diagnose: wrong verdicts: %s" % sorted(
                set(fleet_actions(work).items()) ^ set(want.items())))
        renew_expired(sites, expired, ca, nginx)  # remediate then has nothing to do
        remediate = alternating(lambda: run_cmd(base + ["-e", "cert_remediation_serial=%d" % count,
                                                        str(ROOT / "playbooks" / "remediate.yml")]),
                                lambda: run_cmd(base + [str(ping)]), runs)
        if set(fleet_actions(work).values()) != {("none",)}:
            raise SystemExit("fleet remediate: expected nothing to do, got %s" % fleet_actions(work))
    label = "%d hosts, forks %d" % (count, forks)
    return [("fleet reference: ping play over %s" % label, ping_play, None),
            ("fleet: diagnose over %s (x the ping play)" % label, diagnose, ping_play),
            ("fleet: remediate with nothing to do over %s (x the ping play)" % label, remediate, ping_play)]


def least_note(label, collection, least):
    """A note on a case and the least module's row over the same endpoints: each one's time beyond its reference
    (the floor) over it, per alternating pair (median, fastest-slowest pair), wall clock and CPU."""
    def ratios(timing):
        walls, cpus = pair_ratios(timing)
        cpu = statistics.median(cpus) - 1 if cpus else float("nan")
        return "%.2f (%.2f-%.2f), CPU %.2f" % (statistics.median(walls) - 1, walls[0] - 1, walls[-1] - 1, cpu)
    return ("%s, beyond the floor / the floor per alternating pair: the collection %s; the least a module can do "
            "for the same endpoints %s." % (label, ratios(collection), ratios(least)))


def cpu_note(rows):
    """The fleet rows again in CPU seconds: each run's, as a ratio to the median of the reference's."""
    (_label, reference, _none), cases = rows[0], rows[1:]
    base = statistics.median(reference.cpu)
    parts = []
    for label, timing, _base in cases:
        ratios = sorted(cpu / base for cpu in timing.cpu)
        parts.append("%s %.1f s, %.2f times (%.2f-%.2f)" % (
            label.split(" over ")[0].replace("fleet: ", ""), statistics.median(timing.cpu), statistics.median(ratios),
            ratios[0], ratios[-1]))
    return ("Fleet in CPU seconds (user + system of the whole process tree of each run; the ping play %.1f s, "
            "%.1f-%.1f): %s." % (base, min(reference.cpu), max(reference.cpu), "; ".join(parts)))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per case (median)")
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--memory-certs", type=int, default=10000)
    parser.add_argument("--loop-sample", type=int, default=0,
                        help="time the per-item loops over this many items and scale up (0: all items)")
    parser.add_argument("--chains", type=int, default=1000)
    parser.add_argument("--fleet-hosts", type=int, default=60)
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--only", choices=["files", "endpoints", "memory", "verify", "role", "fleet", "lb200",
                                           "report"], action="append")
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    only = set(args.only or ["files", "endpoints", "memory", "verify", "role", "fleet", "lb200", "report"])
    rows = []
    machine = Machine.start()  # before anything of the bench runs: its load average, steal counter, calibration
    work = Path(tempfile.mkdtemp(prefix="certops-bench-"))
    ca = pki.CA("Bench", key_slot="bench-ca")
    floor_playbook = playbook(work, "floor", "    - name: Ping\n      ansible.builtin.ping:\n")
    floor = timed(floor_playbook, args.runs)
    rows.append(("playbook floor (one ping task)", floor, None))
    notes = []
    sample = args.loop_sample

    if "files" in only:
        files = make_files(work / "files", args.files, ca, slot="bench-files", distinct_keys=True, mixed=True)
        one = playbook(work, "files_one", "    - name: All files in one task\n"
                       "      certops.backend_tls.backend_cert_info:\n        paths: [%s]\n" % (work / "files"))
        rows.append(("%d files (mixed: distinct keys, DER, cert+key, with root, bad), one task" % args.files,
                     timed_against(one, floor_playbook, args.runs), floor))
        rows.append(loop_case(work, "files_loop", "    - name: One call per file\n"
                              "      certops.backend_tls.backend_cert_info:\n        paths: ['{{ item }}']\n",
                              files, sample, floor, "%d files, one call per file in a loop" % args.files,
                              floor_playbook))
        looped = files[:sample] if sample else files
        start = time.monotonic()
        for path in looped:
            subprocess.run(["openssl", "x509", "-in", path, "-inform", "DER" if path.endswith(".der") else "PEM",
                            "-noout", "-subject", "-enddate", "-fingerprint", "-sha256"],
                           capture_output=True, check=False)  # the one bad file in 50 fails, as it would
        per = (time.monotonic() - start) / len(looped)
        rows.append(("%d files, `openssl x509` once per file (shell loop)" % args.files, per * len(files), None))

    if "endpoints" in only:
        sites, certdir = [], work / "endpoint-certs"
        certdir.mkdir()
        for index in range(args.endpoints):  # distinct keys: EC P-256, every tenth RSA 2048
            key = pki.new_key("rsa", 2048) if index % 10 == 0 else pki.new_key()
            keyfile = pki.write(certdir / ("ep%03d.key" % index), pki.Issued(None, key).key_pem(), mode=0o600)
            leaf = ca.leaf("ep%03d.bench.test" % index, key=key)
            cert = pki.write(certdir / ("ep%03d.crt" % index), ca.chain_pem(leaf))
            sites.append({"name": "ep%03d" % index, "port": free_port(), "server_names": ["ep%03d.bench.test" % index],
                          "cert": cert, "key": keyfile})
        endpoints = ["127.0.0.1:%d" % s["port"] for s in sites]
        (work / "endpoints.json").write_text(json.dumps(endpoints))
        with Nginx(work / "nginx", sites):
            one = playbook(work, "ep_one", "    - name: All endpoints in one task\n"
                           "      certops.backend_tls.backend_cert_info:\n"
                           "        endpoints: \"{{ lookup('file', '%s') | from_json }}\"\n"
                           % (work / "endpoints.json"))
            collection = timed_against(one, floor_playbook, args.runs)
            rows.append(("%d TLS endpoints, one task" % args.endpoints, collection, floor))
            least = least_probe_playbook(work, "ep_least", [
                {"host": "127.0.0.1", "port": s["port"], "server_name": s["server_names"][0]} for s in sites])
            rows.append(("%d TLS endpoints, the least a module can do: the handshakes and the served chains back, "
                         "nothing else (tests/bench/least_probe.py, not the collection)" % args.endpoints,
                         timed_against(least, floor_playbook, args.runs), floor))
            notes.append(least_note("%d endpoints (issue 9: at most 0.35)" % args.endpoints, collection, rows[-1][1]))
            rows.append(loop_case(work, "ep_loop", "    - name: One call per endpoint\n"
                                  "      certops.backend_tls.backend_cert_info:\n        endpoints: ['{{ item }}']\n",
                                  endpoints, sample, floor,
                                  "%d TLS endpoints, one call per endpoint in a loop" % args.endpoints,
                                  floor_playbook))

    if "verify" in only:
        chains = make_files(work / "chains", args.chains, ca, slot="bench-verify", distinct_keys=True)
        pki.write(work / "root.pem", ca.root.pem)
        items = [{"name": Path(p).stem, "path": p, "server_names": ["%s.bench.test" % Path(p).stem]} for p in chains]
        (work / "items.json").write_text(json.dumps(items))
        batch = playbook(work, "verify_batch", "    - name: All chains in one batch call\n"
                         "      certops.backend_tls.cert_chain_verify:\n"
                         "        items: \"{{ lookup('file', '%s') | from_json }}\"\n"
                         "        ca_path: %s\n" % (work / "items.json", work / "root.pem"))
        rows.append(("%d chains (by path), one batch call" % args.chains,
                     timed_against(batch, floor_playbook, args.runs), floor))
        compact = playbook(work, "verify_batch_compact", "    - name: All chains in one batch call, compact\n"
                           "      certops.backend_tls.cert_chain_verify:\n"
                           "        items: \"{{ lookup('file', '%s') | from_json }}\"\n"
                           "        ca_path: %s\n        compact: true\n" % (work / "items.json", work / "root.pem"))
        rows.append(("%d chains (by path), one batch call, compact (as the role verifies)" % args.chains,
                     timed_against(compact, floor_playbook, args.runs), floor))
        batch_openssl = playbook(
            work, "verify_batch_openssl", "    - name: All chains in one batch call, profile openssl\n"
            "      certops.backend_tls.cert_chain_verify:\n"
            "        items: \"{{ lookup('file', '%s') | from_json }}\"\n"
            "        ca_path: %s\n        profile: openssl\n" % (work / "items.json", work / "root.pem"))
        rows.append(("%d chains (by path), one batch call, profile openssl" % args.chains,
                     timed_against(batch_openssl, floor_playbook, args.runs), floor))
        rows.append(loop_case(work, "verify_loop", "    - name: One call per chain\n"
                              "      certops.backend_tls.cert_chain_verify:\n"
                              "        path: '{{ item.path }}'\n        server_names: '{{ item.server_names }}'\n"
                              "        ca_path: %s\n" % (work / "root.pem"),
                              items, sample, floor, "%d chains, one call per chain in a loop" % args.chains,
                              floor_playbook))

    if "role" in only:
        rows.extend(bench_role(work, args.runs, floor))

    if "fleet" in only:
        fleet_rows = bench_fleet(work, ca, args.fleet_hosts, args.runs, args.forks)
        rows.extend(fleet_rows)
        notes.append(cpu_note(fleet_rows))

    if "lb200" in only:  # issue 10: lb_backend_info on one load balancer host, all its backends in one run
        from lb_bench import bench_lb

        lb_rows, lb_note = bench_lb(work, args.runs, floor, playbook, timed_against, Timing)
        rows.extend(lb_rows)
        notes.append(lb_note)

    report_size = None
    if "report" in only:  # issue 11: the HTML fleet report of 1,000 backends in headless Chromium
        from report_bench import bench_report

        measured = bench_report(work / "report", backends=1000, runs=max(args.runs, 3))
        reference = Timing(measured["reference_seconds"])
        rows.append(("trivial page, same headless Chromium (reference for the next row)", reference, None))
        rows.append(("HTML fleet report, 1000 backends: navigation to load event (x the trivial page)",
                     Timing(measured["render_seconds"]), reference))
        report_size = measured["size_bytes"]

    memory = None
    if "memory" in only:
        # N-1 leaves, each file leaf + the shared intermediate: N distinct certificates.
        make_files(work / "memory", args.memory_certs - 1, ca, slot="bench-mem")
        memory = peak_memory(work / "memory")

    lines = ["| case | seconds (median) | fastest-slowest run | beyond the floor | x floor "
             "| x floor, fastest-slowest | CPU s (median) | x floor, CPU "
             "| x its reference, per alternating pair | the same, CPU |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label, seconds, base in rows:
        spread = "%.2f-%.2f" % (seconds.low, seconds.high) if hasattr(seconds, "low") else "one run"
        beyond = "%.2f" % (seconds - base) if base else ""
        ratio = "%.1f" % (seconds / base) if base else ""
        ratio_spread = "%.1f-%.1f" % (seconds.low / base, seconds.high / base) if base and hasattr(
            seconds, "low") else ""
        cpu = seconds.cpu if isinstance(seconds, Timing) else None
        cpu_text = "%.2f" % statistics.median(cpu) if cpu else ""
        cpu_ratio = "%.2f" % (statistics.median(cpu) / statistics.median(base.cpu)) if cpu and isinstance(
            base, Timing) and base.cpu else ""
        walls, cpus = pair_ratios(seconds)
        paired = ["%.2f (%.2f-%.2f)" % (statistics.median(r), r[0], r[-1]) if r else "" for r in (walls, cpus)]
        lines.append("| %s | %.2f | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, seconds, spread, beyond, ratio, ratio_spread, cpu_text, cpu_ratio, paired[0], paired[1]))
    if memory:
        lines.append("")
        lines.append("Peak memory of the module process collecting %d distinct certificates (defaults, PEM "
                     "included; collect + exit_json): %.0f MB RSS." % (args.memory_certs, memory))
    if report_size:
        lines.append("")
        lines.append("HTML fleet report of 1000 backends: %.2f MB." % (report_size / 1e6))
    for note in notes:
        lines.append("")
        lines.append(note)
    lines.append("")
    lines.append(machine.describe())
    table = "\n".join(lines)
    print(table)
    subprocess.run(["rm", "-rf", str(work)], check=False)
    if args.write:
        doc = ROOT / "docs" / "performance.md"
        text = doc.read_text()
        stamp = "<!-- BENCH:results -->"
        command = " ".join(["python tests/bench/run_bench.py"] + [a for a in sys.argv[1:] if a != "--write"])
        block = "%s\n%s\n\n_Measured %s with `%s` (%d runs: median, fastest-slowest) on %d cores._\n%s" % (
            stamp, table, time.strftime("%Y-%m-%d"), command, args.runs, os.cpu_count(), stamp)
        text = re.sub(re.escape(stamp) + ".*?" + re.escape(stamp), lambda _m: block, text, flags=re.DOTALL)
        doc.write_text(text)


if __name__ == "__main__":
    main()
