"""cert_remediation cannot take the pool down (tests/lab, real servers behind a real load balancer).

- pre-check: whatever can be checked up front is checked once per play, on the controller, before any host
  is touched -- also with serial, also for the hosts of later batches;
- rolling: serial batches over six healthy backends due for renewal; a reload that fails in the second
  batch stops the rollout, is rolled back, and the load balancer never sees fewer than four backends UP;
- interruption: SIGKILL of the whole ansible-playbook process group between push and reload, and between
  reload and verify; a rerun converges, nothing half-written was ever served, no temp file is left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.certops.backend_tls.plugins.module_utils import _probe
from lab import lab as labctl
from testlib import pki
from testlib.ansible_run import BIN, ROOT, env, recap, run_playbook

REMEDIATE = ROOT / "playbooks" / "remediate.yml"
PRECHECK_TASK = "Everything checks out (else nothing was touched on any host)"


def backend(state, name):
    return next(b for b in state["backends"] if b["name"] == name)


def live_files(state, names=None):
    """{path: bytes} of the live cert/key/chain files (of the named backends)."""
    out = {}
    for b in state["backends"]:
        if names is None or b["name"] in names:
            for path in {b["cert_path"], b["key_path"], b["chain_path"]} - {None}:
                out[path] = Path(path).read_bytes()
    return out


def served_chain(state, name):
    """The served chain as a tuple of SHA-256 fingerprints (None when the handshake failed)."""
    b = backend(state, name)
    result = _probe.probe("127.0.0.1", b["port"], server_name=b["fqdn"], timeout=5)
    if not result["ok"]:
        return None
    return tuple(hashlib.sha256(der).hexdigest() for der in result["chain_der"])


def source_chain(state, name):
    """The renewed chain the role pushes: source leaf + intermediate."""
    source = Path(state["dir"]) / "source" / name
    return tuple(pki.Issued(pki.x509.load_pem_x509_certificate(p.read_bytes()), None).fingerprint
                 for p in (source / "cert.pem", source / "chain.pem"))


def inventory(state, path, sites=None):
    """The lab inventory, with per-site overrides {backend name: {key: value}}."""
    data = json.loads((Path(state["dir"]) / "inventory.yml").read_text())
    for name, extra in (sites or {}).items():
        data["backends"]["hosts"]["backend-" + name]["cert_remediation_sites"][0].update(extra)
    path.write_text(json.dumps(data))
    return path


def reload_command(state, name):
    data = json.loads((Path(state["dir"]) / "inventory.yml").read_text())
    return data["backends"]["hosts"]["backend-" + name]["cert_remediation_sites"][0]["reload_command"]


def stray_files(state):
    """Temp files beside the live files or in the role's backup tree (atomic-move leftovers and the like)."""
    dirs = {Path(p).parent for b in state["backends"] for p in (b["cert_path"], b["key_path"]) if p}
    found = [p for d in dirs for p in d.iterdir()
             if p.name.startswith(".ansible_tmp") or p.name.endswith((".tmp", "~")) or ".ansible" in p.name]
    backups = Path(state["dir"]) / "backups"
    if backups.exists():
        found += [p for p in backups.rglob("*") if p.name.startswith(".") or p.name.endswith((".tmp", "~"))]
    return found


class Sampler:
    """A thread calling probe() every interval seconds for the whole `with` block; keeps every sample."""

    def __init__(self, probe, interval):
        self.probe, self.interval = probe, interval
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.samples.append(self.probe())
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)


# --- pre-check: before any host is touched ------------------------------------------------------------------


@pytest.fixture(scope="module")
def faulty_lab(tmp_path_factory):
    directory = tmp_path_factory.mktemp("precheck") / "lab"
    state = labctl.up(directory)
    yield state
    labctl.down(directory)


def _typo_report_dir(state, tmp_path):
    return inventory(state, tmp_path / "inv.json"), {"cert_remediation_report_dir": str(tmp_path / "reprots")}, \
        "cert_remediation_report_dir %s does not exist" % (tmp_path / "reprots")


def _report_dir_a_file(state, tmp_path):
    (tmp_path / "metrics.prom").write_text("")
    return inventory(state, tmp_path / "inv.json"), {"cert_remediation_metrics_dir": str(tmp_path / "metrics.prom")}, \
        "cert_remediation_metrics_dir %s is not a directory" % (tmp_path / "metrics.prom")


def _bad_site_on_last_host(state, tmp_path):
    # The last host of the play, in the last batch: run_once alone would only see it after three batches.
    inv = inventory(state, tmp_path / "inv.json", sites={"blog": {"server_type": "nginxx"}})
    return inv, {}, "backend-blog: value of server_type must be one of: nginx, apache, haproxy, got: nginxx"


def _ca_that_does_not_parse(state, tmp_path):
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    return inventory(state, tmp_path / "inv.json"), {"cert_remediation_ca_path": str(bogus)}, \
        "cert_remediation_ca_path %s: no trust anchors found" % bogus


def _missing_source_dir(state, tmp_path):
    return inventory(state, tmp_path / "inv.json"), {"cert_remediation_source_dir": str(tmp_path / "sorce")}, \
        "cert_remediation_source_dir %s is not a directory" % (tmp_path / "sorce")


@pytest.mark.parametrize("fault", [_typo_report_dir, _report_dir_a_file, _bad_site_on_last_host,
                                   _ca_that_does_not_parse, _missing_source_dir])
def test_precheck_fails_before_any_host_is_touched(faulty_lab, tmp_path, fault):
    state = faulty_lab
    inv, extra, expected = fault(state, tmp_path)
    before = live_files(state)
    served_before = {b["name"]: served_chain(state, b["name"]) for b in state["backends"]}
    reports = tmp_path / "reports"
    reports.mkdir()
    extra_vars = {"cert_remediation_report_dir": str(reports), "cert_remediation_serial": 1}
    extra_vars.update(extra)
    proc = run_playbook(REMEDIATE, inventory=inv, extra_vars=extra_vars)
    assert proc.returncode != 0
    fatal = re.search(r"^fatal: .*", proc.stdout, re.MULTILINE).group(0)
    assert "pre-check failed; nothing was touched on any host of the play" in fatal and expected in fatal, fatal
    # It failed in the first batch, on the controller: no host got past it, no file was written.
    assert set(recap(proc.stdout)) == {"backend-shop"}, recap(proc.stdout)
    assert "Back up and write" not in proc.stdout and "Reload by command" not in proc.stdout
    assert live_files(state) == before
    assert not (Path(state["dir"]) / "backups").exists()
    assert list(reports.iterdir()) == []
    assert {b["name"]: served_chain(state, b["name"]) for b in state["backends"]} == served_before


# --- rolling: serial 2 over six backends, one reload fails in the second batch ------------------------------


@pytest.fixture
def pool_lab(tmp_path):
    directory = tmp_path / "lab"
    state = labctl.up(directory, backends=labctl.pool(6))
    yield state
    labctl.down(directory)


def test_rollout_stops_rolls_back_and_keeps_the_pool_up(pool_lab, tmp_path):
    state = pool_lab
    names = [b["name"] for b in state["backends"]]
    assert [b["server_type"] for b in state["backends"]] == ["nginx", "apache", "haproxy"] * 2
    view = labctl.wait_view(state["dir"], "UP")
    assert [v["status"] for v in view] == ["UP"] * 6, view
    # pool3 (HAProxy, second batch) really reloads, then reports failure: the role must roll it back.
    failing = "pool3"
    inv = inventory(state, tmp_path / "inv.json",
                    sites={failing: {"reload_command": reload_command(state, failing) + "; exit 1"}})
    before = live_files(state)
    served_before = {n: served_chain(state, n) for n in names}
    reports = tmp_path / "reports"
    reports.mkdir()

    def up_count():
        return sum(v["status"].startswith("UP") for v in labctl.lb_view(state["dir"]))

    with Sampler(up_count, 0.1) as sampler:
        proc = run_playbook(REMEDIATE, inventory=inv, extra_vars={
            "cert_remediation_serial": 2, "cert_remediation_report_dir": str(reports)})
        time.sleep(1.5)  # the health checks (inter 500ms) of the last reload are seen too
    counts = recap(proc.stdout)
    print("LB samples: %d, fewest backends UP: %d" % (len(sampler.samples), min(sampler.samples)))
    assert proc.returncode != 0
    assert len(sampler.samples) > 50, "the sampler did not really run"
    assert min(sampler.samples) >= 4, "the load balancer saw only %d backends UP" % min(sampler.samples)

    # The pre-check ran once for the play, not once per batch.
    assert proc.stdout.count("TASK [certops.backend_tls.cert_remediation : %s]" % PRECHECK_TASK) == 1
    # First batch renewed; the failing backend rolled back and serving its old certificate.
    for name in ("pool1", "pool2"):
        assert counts["backend-" + name]["failed"] == 0, counts
        assert served_chain(state, name) == source_chain(state, name)
    assert counts["backend-" + failing]["failed"] == 1, counts
    failing_backend = backend(state, failing)
    assert Path(failing_backend["cert_path"]).read_bytes() == before[failing_backend["cert_path"]]
    assert served_chain(state, failing) == served_before[failing]
    # One report for the run, rewritten after each batch: it holds both batches that ran, and the failure.
    hosts = json.loads((reports / "report.json").read_text())["hosts"]
    assert sorted(hosts) == ["backend-pool%d" % n for n in (1, 2, 3, 4)], sorted(hosts)
    assert hosts["backend-" + failing]["failed"] and not hosts["backend-pool1"]["failed"], hosts
    entry = hosts["backend-" + failing]["sites"][0]
    assert entry["rolled_back"] is True and entry["after"]["serving_old"] is True, entry
    # Its batch mate finished its own transaction: renewed, verified, not held back by its neighbour.
    assert counts["backend-pool4"]["failed"] == 0, counts
    assert served_chain(state, "pool4") == source_chain(state, "pool4")
    # The rollout stopped: the third batch never ran and its files are byte-identical.
    assert "backend-pool5" not in counts and "backend-pool6" not in counts, counts
    for name in ("pool5", "pool6"):
        for path, data in live_files(state, [name]).items():
            assert data == before[path], "%s was touched" % path
        assert served_chain(state, name) == served_before[name]
        assert not (Path(state["dir"]) / "backups" / name).exists()
    assert stray_files(state) == []
    view = labctl.wait_view(state["dir"], "UP")
    assert [v["status"] for v in view] == ["UP"] * 6, view


# --- interruption: SIGKILL between push and reload, and between reload and verify --------------------------


def _dead(pid):
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie nobody reaped is dead too
    except FileNotFoundError:
        return True


def _process_tree_groups(root):
    """Process groups of root and of every descendant (from /proc)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append((int(stat.parent.name), int(fields[2])))
    groups, todo = {os.getpgid(root)}, [root]
    while todo:
        for pid, pgid in children.get(todo.pop(), []):
            groups.add(pgid)
            todo.append(pid)
    return groups


def _kill_everything(root):
    """SIGKILL the playbook's process group and the groups of all it started.

    ansible-core's workers call setsid(): killing only the playbook's own group would leave the running task
    (its module, the reload command) alive to finish on its own. The whole run dying at once is what
    happens when the controller or the AWX job's pod goes away. Everything is frozen first (SIGSTOP), so
    nothing is reparented or forks while the tree is read.
    """
    frozen = set()
    for _round in range(3):
        for pgid in _process_tree_groups(root) - frozen:
            os.killpg(pgid, signal.SIGSTOP)
            frozen.add(pgid)
    for pgid in frozen:
        os.killpg(pgid, signal.SIGKILL)


def _playbook_until_marker(inv, extra_vars, marker, timeout=120):
    """ansible-playbook in its own process group; SIGKILL it all once the reload command wrote marker."""
    varfile = marker.with_suffix(".vars.json")
    varfile.write_text(json.dumps(extra_vars))
    cmd = [str(BIN / "ansible-playbook"), str(REMEDIATE), "-i", str(inv), "-e", "@%s" % varfile]
    # A run killed mid-task cleans none of its temporary files up (Ansible's own and each module's AnsiballZ
    # payload): kept in the test's directory, not in the machine's /tmp and ~/.ansible/tmp.
    litter = marker.parent / "killed-run-tmp"
    litter.mkdir()
    temps = {"TMPDIR": str(litter), "ANSIBLE_LOCAL_TEMP": str(litter / "local"),
             "ANSIBLE_REMOTE_TMP": str(litter / "remote")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env(**temps),
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not marker.exists():
            assert proc.poll() is None, "the playbook ended before the cut point:\n%s" % proc.stdout.read().decode()
            assert time.monotonic() < deadline, "no cut point within %ss" % timeout
            time.sleep(0.05)
    finally:
        _kill_everything(proc.pid)
        proc.communicate()
    return int(marker.read_text())


@pytest.mark.parametrize("cut", ["after-push", "after-reload"])
def test_sigkill_mid_transaction_then_rerun_converges(tmp_path, cut):
    # Two backends; the cut is on pool1 (nginx) after the push and on pool2 (Apache) after the reload.
    state = labctl.up(tmp_path / "lab", backends=labctl.pool(2))
    try:
        name = "pool1" if cut == "after-push" else "pool2"
        _interrupt_and_converge(state, tmp_path, name, cut)
    finally:
        labctl.down(tmp_path / "lab")


def _interrupt_and_converge(state, tmp_path, name, cut):
    b = backend(state, name)
    old, new = served_chain(state, name), source_chain(state, name)
    assert old is not None and old != new
    before = live_files(state, [name])
    certs_dir = Path(b["cert_path"]).parent
    names_before = sorted(p.name for p in certs_dir.iterdir())
    marker = tmp_path / "cut-point"
    mark = "echo $$ > %s.part && mv %s.part %s && sleep 300" % (marker, marker, marker)
    real = reload_command(state, name)
    cut_reload = "%s && %s" % (mark, real) if cut == "after-push" else "%s && %s" % (real, mark)
    killed_inv = inventory(state, tmp_path / "killed.json", sites={name: {"reload_command": cut_reload}})
    normal_inv = inventory(state, tmp_path / "normal.json")
    extra = {"cert_remediation_hosts": "backend-" + name}

    def handshake():
        return served_chain(state, name)

    with Sampler(handshake, 0.05) as sampler:
        shell_pid = _playbook_until_marker(killed_inv, extra, marker)
        time.sleep(0.5)
        assert _dead(shell_pid), "SIGKILL of the process group did not reach the reload command"
        on_disk = live_files(state, [name])
        assert on_disk != before, "the cut came before the push"
        if cut == "after-push":
            assert served_chain(state, name) == old  # pushed, never reloaded
        else:  # reloaded (a graceful reload takes a moment), never verified
            deadline = time.monotonic() + 15
            while served_chain(state, name) != new and time.monotonic() < deadline:
                time.sleep(0.2)
            assert served_chain(state, name) == new
        backups = sorted((Path(state["dir"]) / "backups" / name).iterdir())
        assert len(backups) == 1
        killed_backup = {p.name: p.read_bytes() for p in backups[0].iterdir()}
        assert sorted(killed_backup.values()) == sorted(before.values())

        rerun = run_playbook(REMEDIATE, inventory=normal_inv, extra_vars=extra)
        third = run_playbook(REMEDIATE, inventory=normal_inv, extra_vars=extra)
    samples = sampler.samples
    print("TLS samples: %d (old %d, new %d)" % (len(samples), samples.count(old), samples.count(new)))
    assert len(samples) > 50, "the sampler did not really run"
    assert [s for s in samples if s not in (old, new)] == [], "a failed handshake or a foreign chain was served"
    assert samples[0] == old and samples[-1] == new
    assert rerun.returncode == 0, rerun.stdout[-5000:]
    assert third.returncode == 0, third.stdout[-5000:]
    assert recap(third.stdout)["backend-" + name]["changed"] == 0, recap(third.stdout)

    # Converged: renewed chain served, the load balancer has it UP, nothing left behind, the backup kept.
    assert served_chain(state, name) == new
    view = {v["backend"]: v["status"] for v in labctl.wait_view(state["dir"], "UP")}
    assert view[name].startswith("UP"), view
    assert sorted(p.name for p in certs_dir.iterdir()) == names_before
    assert stray_files(state) == []
    assert {p.name: p.read_bytes() for p in backups[0].iterdir()} == killed_backup
    assert sorted((Path(state["dir"]) / "backups" / name).iterdir()) == backups
