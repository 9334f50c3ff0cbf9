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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from testlib import pki  # noqa: E402
from testlib.ansible_run import COLLECTIONS, ROOT, env  # noqa: E402
from testlib.servers import Nginx, free_port  # noqa: E402

PLAYBOOK_HEAD = """---
- name: Bench
  hosts: localhost
  gather_facts: false
  tasks:
"""


def playbook(workdir, name, tasks):
    path = Path(workdir) / ("%s.yml" % name)
    path.write_text(PLAYBOOK_HEAD + tasks)
    return path


class Timing(float):
    """Median seconds of several runs, carrying the fastest and the slowest run: the spread."""

    def __new__(cls, times):
        timing = float.__new__(cls, statistics.median(times))
        timing.low, timing.high = min(times), max(times)
        return timing


def timed(path, runs):
    """Median seconds of `runs` ansible-playbook runs (one warm-up first), with their spread."""
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=%s" % sys.executable, str(path)]
    times = []
    for attempt in range(runs + 1):
        start = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env(), check=False)
        elapsed = time.monotonic() - start
        if proc.returncode != 0:
            raise SystemExit("bench playbook %s failed:\n%s\n%s" % (path, proc.stdout[-3000:], proc.stderr[-2000:]))
        if attempt:
            times.append(elapsed)
    return Timing(times)


def loop_case(work, name, task, items, sample, floor, label):
    """A playbook calling the module once per item (task uses {{ item }}); timed over `sample` items and
    scaled to all of them. Returns a table row."""
    looped = items[:sample] if sample else items
    (work / ("%s.json" % name)).write_text(json.dumps(looped))
    loop = playbook(work, name, task + "      loop: \"{{ lookup('file', '%s') | from_json }}\"\n" % (
        work / ("%s.json" % name)))
    seconds = timed(loop, 1)
    scaled = floor + (seconds - floor) * len(items) / len(looped)
    return ("%s%s" % (label, " (%d timed, scaled)" % len(looped) if sample else ""), scaled, floor)


def make_files(directory, count, ca, slot="bench", distinct_keys=False):
    """count leaf + intermediate bundles for distinct names; with distinct_keys each leaf has its own key
    (EC P-256, every tenth RSA 2048), else all share one."""
    directory.mkdir(parents=True, exist_ok=True)
    shared = pki.new_key(cache_slot=slot)
    for index in range(count):
        key = (pki.new_key("rsa", 2048) if index % 10 == 0 else pki.new_key()) if distinct_keys else shared
        leaf = ca.leaf("host%05d.bench.test" % index, key=key)
        (directory / ("host%05d.pem" % index)).write_text(leaf.pem + ca.intermediate.pem)
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


def timed_cmd(cmd, runs):
    times = []
    for _attempt in range(runs):
        start = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env(), check=False)
        times.append(time.monotonic() - start)
        if proc.returncode != 0:
            raise SystemExit("bench command failed: %s\n%s" % (" ".join(cmd), proc.stdout[-3000:]))
    return Timing(times)


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


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per case (median)")
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--memory-certs", type=int, default=10000)
    parser.add_argument("--loop-sample", type=int, default=0,
                        help="time the per-item loops over this many items and scale up (0: all items)")
    parser.add_argument("--chains", type=int, default=1000)
    parser.add_argument("--only", choices=["files", "endpoints", "memory", "verify", "role"], action="append")
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    only = set(args.only or ["files", "endpoints", "memory", "verify", "role"])
    rows = []
    work = Path(tempfile.mkdtemp(prefix="certops-bench-"))
    ca = pki.CA("Bench", key_slot="bench-ca")
    floor = timed(playbook(work, "floor", "    - name: Ping\n      ansible.builtin.ping:\n"), args.runs)
    rows.append(("playbook floor (one ping task)", floor, None))
    sample = args.loop_sample

    if "files" in only:
        files = make_files(work / "files", args.files, ca)
        one = playbook(work, "files_one", "    - name: All files in one task\n"
                       "      certops.backend_tls.backend_cert_info:\n        paths: [%s]\n" % (work / "files"))
        rows.append(("%d files, one task" % args.files, timed(one, args.runs), floor))
        rows.append(loop_case(work, "files_loop", "    - name: One call per file\n"
                              "      certops.backend_tls.backend_cert_info:\n        paths: ['{{ item }}']\n",
                              files, sample, floor, "%d files, one call per file in a loop" % args.files))
        looped = files[:sample] if sample else files
        start = time.monotonic()
        for path in looped:
            subprocess.run(["openssl", "x509", "-in", path, "-noout", "-subject", "-enddate", "-fingerprint",
                            "-sha256"], capture_output=True, check=True)
        per = (time.monotonic() - start) / len(looped)
        rows.append(("%d files, `openssl x509` once per file (shell loop)" % args.files, per * len(files), None))

    if "endpoints" in only:
        sites, certdir = [], work / "endpoint-certs"
        certdir.mkdir()
        key = pki.new_key(cache_slot="bench-ep")
        keyfile = pki.write(certdir / "shared.key", pki.Issued(None, key).key_pem(), mode=0o600)
        for index in range(args.endpoints):
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
            rows.append(("%d TLS endpoints, one task" % args.endpoints, timed(one, args.runs), floor))
            rows.append(loop_case(work, "ep_loop", "    - name: One call per endpoint\n"
                                  "      certops.backend_tls.backend_cert_info:\n        endpoints: ['{{ item }}']\n",
                                  endpoints, sample, floor,
                                  "%d TLS endpoints, one call per endpoint in a loop" % args.endpoints))

    if "verify" in only:
        chains = make_files(work / "chains", args.chains, ca, slot="bench-verify", distinct_keys=True)
        pki.write(work / "root.pem", ca.root.pem)
        items = [{"name": Path(p).stem, "path": p, "server_names": ["%s.bench.test" % Path(p).stem]} for p in chains]
        (work / "items.json").write_text(json.dumps(items))
        batch = playbook(work, "verify_batch", "    - name: All chains in one batch call\n"
                         "      certops.backend_tls.cert_chain_verify:\n"
                         "        items: \"{{ lookup('file', '%s') | from_json }}\"\n"
                         "        ca_path: %s\n" % (work / "items.json", work / "root.pem"))
        rows.append(("%d chains (by path), one batch call" % args.chains, timed(batch, args.runs), floor))
        batch_openssl = playbook(
            work, "verify_batch_openssl", "    - name: All chains in one batch call, profile openssl\n"
            "      certops.backend_tls.cert_chain_verify:\n"
            "        items: \"{{ lookup('file', '%s') | from_json }}\"\n"
            "        ca_path: %s\n        profile: openssl\n" % (work / "items.json", work / "root.pem"))
        rows.append(("%d chains (by path), one batch call, profile openssl" % args.chains,
                     timed(batch_openssl, args.runs), floor))
        rows.append(loop_case(work, "verify_loop", "    - name: One call per chain\n"
                              "      certops.backend_tls.cert_chain_verify:\n"
                              "        path: '{{ item.path }}'\n        server_names: '{{ item.server_names }}'\n"
                              "        ca_path: %s\n" % (work / "root.pem"),
                              items, sample, floor, "%d chains, one call per chain in a loop" % args.chains))

    if "role" in only:
        rows.extend(bench_role(work, args.runs, floor))

    memory = None
    if "memory" in only:
        # N-1 leaves, each file leaf + the shared intermediate: N distinct certificates.
        make_files(work / "memory", args.memory_certs - 1, ca, slot="bench-mem")
        memory = peak_memory(work / "memory")

    lines = ["| case | seconds (median) | fastest-slowest run | beyond the floor | x floor "
             "| x floor, fastest-slowest |", "|---|---:|---:|---:|---:|---:|"]
    for label, seconds, base in rows:
        spread = "%.2f-%.2f" % (seconds.low, seconds.high) if hasattr(seconds, "low") else "one run"
        beyond = "%.2f" % (seconds - base) if base else ""
        ratio = "%.1f" % (seconds / base) if base else ""
        ratio_spread = "%.1f-%.1f" % (seconds.low / base, seconds.high / base) if base and hasattr(
            seconds, "low") else ""
        lines.append("| %s | %.2f | %s | %s | %s | %s |" % (label, seconds, spread, beyond, ratio, ratio_spread))
    if memory:
        lines.append("")
        lines.append("Peak memory of the module process collecting %d distinct certificates (defaults, PEM "
                     "included; collect + exit_json): %.0f MB RSS." % (args.memory_certs, memory))
    table = "\n".join(lines)
    print(table)
    subprocess.run(["rm", "-rf", str(work)], check=False)
    if args.write:
        doc = ROOT / "docs" / "performance.md"
        text = doc.read_text()
        stamp = "<!-- BENCH:results -->"
        block = "%s\n%s\n\n_Measured %s with `make bench` (%d runs, median) on %d cores._\n%s" % (
            stamp, table, time.strftime("%Y-%m-%d"), args.runs, os.cpu_count(), stamp)
        text = re.sub(re.escape(stamp) + ".*?" + re.escape(stamp), lambda _m: block, text, flags=re.DOTALL)
        doc.write_text(text)


if __name__ == "__main__":
    main()
