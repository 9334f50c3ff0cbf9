"""A relative report directory is the playbook's, as every other controller path of the role is.

The pre-check looked for it next to the playbook (a module on the controller runs there), while fleet_report, which
runs in Ansible's own process, wrote to wherever ansible-playbook had been started: the run passed its pre-check
and then failed to write the report, or wrote it where nobody looks (a review of the documentation's examples,
2026-12-03). A real nginx serves the site; ansible-playbook is started from another directory than the playbook's.
"""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from testlib import pki
from testlib.ansible_run import BIN, ROLE_PLAY, env, recap
from testlib.servers import Nginx, free_port


def test_a_relative_report_directory_is_the_playbook_s(tmp_path):
    ca = pki.CA("Relative")
    leaf = ca.leaf("relative.a.test")
    cert = pki.write(tmp_path / "site.crt", leaf.pem + ca.intermediate.pem)
    key = pki.write(tmp_path / "site.key", leaf.key_pem(), 0o600)
    port = free_port()
    play = tmp_path / "play"
    (play / "reports").mkdir(parents=True)
    (play / "textfile").mkdir()
    elsewhere = tmp_path / "started-here"
    (elsewhere / "reports").mkdir(parents=True)  # what a report written relative to the start would land in
    (play / "site.yml").write_text(ROLE_PLAY)
    pki.write(play / "lb-ca.pem", ca.root.pem)
    inventory = {"backends": {"hosts": {"relative": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "cert_remediation_ca_path": "lb-ca.pem",  # relative too: the playbook's
        "cert_remediation_report_dir": "reports", "cert_remediation_metrics_dir": "textfile",
        "cert_remediation_sites": [{"name": "relative", "server_type": "nginx", "cert_path": cert, "key_path": key,
                                    "endpoint": {"host": "127.0.0.1", "port": port,
                                                 "server_name": "relative.a.test"},
                                    "server_names": ["relative.a.test"]}]}}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    with Nginx(tmp_path / "srv", [{"name": "relative", "port": port, "server_names": ["relative.a.test"],
                                   "cert": cert, "key": key}]):
        proc = subprocess.run([str(BIN / "ansible-playbook"), str(play / "site.yml"), "-i",
                               str(tmp_path / "inventory.yml")], cwd=elsewhere, capture_output=True, text=True,
                              timeout=600, env=env(), check=False)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert recap(proc.stdout)["relative"]["failed"] == 0
    report = json.loads((play / "reports" / "report.json").read_text())
    (site,) = report["hosts"]["relative"]["sites"]
    assert site["site"] == "relative" and site["action"] == "none", site
    assert (play / "reports" / "report.html").is_file()
    assert 'host="relative"' in (play / "textfile" / "backend_tls.prom").read_text()
    assert list((elsewhere / "reports").iterdir()) == []
    assert sorted(p.name for p in elsewhere.iterdir()) == ["reports"]
