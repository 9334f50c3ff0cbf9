"""`make demo`: the LoadBalancerBackendCertificateError story on real servers, from DOWN to UP."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from lab import lab  # noqa: E402
from testlib.ansible_run import ROOT, env  # noqa: E402

LAB = ROOT / "build" / "lab"
REPORTS = LAB / "reports"
LOGS = LAB / "logs"


def say(text=""):
    print(textwrap.dedent(text).rstrip(), flush=True)


def playbook(name, mode):
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / ("%s.log" % mode)
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(LAB / "inventory.yml"),
           str(ROOT / "playbooks" / name), "-e", "cert_remediation_report_dir=%s" % REPORTS]
    with open(log, "w") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env(), check=False).returncode
    return rc, log


def table(rows, headers):
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    line = "  ".join("%-*s" % (w, h) for w, h in zip(widths, headers))
    print("  " + line + "\n  " + "  ".join("-" * w for w in widths))
    for row in rows:
        print("  " + "  ".join("%-*s" % (w, str(c)) for w, c in zip(widths, row)))


def report_rows():
    rows = []
    hosts = json.loads((REPORTS / "report.json").read_text())["hosts"]
    for host in sorted(hosts):
        for site in hosts[host]["sites"]:
            fix = {"none": "nothing", "reload": "reload only (files already renewed)",
                   "push": "push renewed cert+chain+key, test, reload", "manual": "needs a person"}[site["action"]]
            judged = ", ".join("%s %s" % (line["lb_host"], line["backend"]) for line in site["before"].get("lb") or [])
            rows.append((host, site["server_type"], judged or "(declared values)",
                         ", ".join(site["reasons"]) or "healthy", fix, site["status"]))
    return rows


def agreement(view):
    """How many backends HAProxy and the collection judge alike: (agree, total, disagreements)."""
    up = {row["backend"]: row["status"].startswith("UP") for row in view}
    ours = {}
    for entry in json.loads((REPORTS / "report.json").read_text())["hosts"].values():
        for site in entry["sites"]:
            for line in site["before"].get("lb") or []:
                ours[line["backend"].split("/", 1)[1]] = line["valid"]
    differ = sorted(name for name in up if ours.get(name) is not up[name])
    return len(up) - len(differ), len(up), differ


def main():
    REPORTS.mkdir(parents=True, exist_ok=True)
    for old in REPORTS.glob("*.json"):
        old.unlink()
    say("""
        == certops.backend_tls demo ==
        LoadBalancerBackendCertificateError: an HAProxy load balancer verifies its backends' TLS
        (ssl verify required, ca-file, sni, verifyhost) and cannot trust any of them. Starting the lab:
        an internal CA and four backends on nginx, Apache and HAProxy, each broken differently.
    """)
    state = lab.up(LAB)
    say("\n1. The load balancer's view (HAProxy stats socket):")
    lab.print_view(lab.wait_view(LAB, "DOWN"))

    say("\n2. Diagnose (playbooks/diagnose.yml: collect on each backend; read the load balancer's own view on")
    say("   its host with lb_backend_info - its CA file, the name it checks, how it matches - and judge as it does):")
    rc, log = playbook("diagnose.yml", "diagnose")
    if rc != 0:
        say("diagnose failed (rc=%d); see %s" % (rc, log))
        return rc
    table(report_rows(), ("backend", "server", "judged by (load balancer)", "problem", "fix", "status"))
    agree, total, differ = agreement(lab.wait_view(LAB, "DOWN"))
    say("  HAProxy's own check and the collection's verdict agree on %d of %d backends%s" % (
        agree, total, "" if not differ else " (differ: %s)" % ", ".join(differ)))

    say("\n3. Remediate (playbooks/remediate.yml: one host at a time; pre-flight, back up, write, test,")
    say("   reload, verify what is served, roll back on any failure):")
    rc, log = playbook("remediate.yml", "remediate")
    table(report_rows(), ("backend", "server", "judged by (load balancer)", "problem", "fix", "status"))
    if rc != 0:
        say("remediate failed (rc=%d); see %s" % (rc, log))
        return rc

    say("\n4. The load balancer's view now:")
    view = lab.wait_view(LAB, "UP")
    lab.print_view(view)
    rc, log = playbook("diagnose.yml", "diagnose")
    if rc != 0:
        say("the diagnose after remediation failed (rc=%d); see %s" % (rc, log))
        return rc
    agree, total, differ = agreement(view)
    say("  A diagnose now: HAProxy's own check and the collection's verdict agree on %d of %d backends%s" % (
        agree, total, "" if not differ else " (differ: %s)" % ", ".join(differ)))
    say("""

        Report (every backend: before, action, after, rolled_back): %s
        The same as a page to open in a browser: %s
        ... and as metrics for node_exporter's textfile collector: %s
        Ansible output: %s
        Backups of the replaced files: %s
        Run it again: a second remediate changes nothing. Tear the lab down: make lab-down
    """ % (REPORTS / "report.json", REPORTS / "report.html", REPORTS / "backend_tls.prom", LOGS,
           Path(state["dir"]) / "backups"))
    return 0 if all(v["status"].startswith("UP") for v in view) and not differ else 1


if __name__ == "__main__":
    sys.exit(main())
