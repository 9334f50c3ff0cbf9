"""The README's "In an existing playbook" example, run as it is written, against a real nginx whose remediation fails.

Its first version asserted after the role that nothing was rolled back: the role fails the host of a rolled-back
site, so that task never ran (a review of the documentation's examples, 2026-12-03). The example now acts on the
rollback in a rescue and fails the host again there; this runs it from the README's own text.
"""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from testlib import pki
from testlib.ansible_run import BIN, ROOT, env, recap
from testlib.servers import Nginx, free_port


def readme_example(heading):
    """The first YAML block after a README heading, as the README writes it."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading):]
    return re.search(r"```yaml\n(.*?)```", section, re.DOTALL).group(1)


def test_the_existing_playbook_example_reports_the_rollback_and_fails_the_host(tmp_path):
    example = readme_example("### In an existing playbook")
    play = yaml.safe_load(example)
    assert play[0]["hosts"] == "web" and play[0]["max_fail_percentage"] == 0
    ca = pki.CA("Readme")
    old = ca.leaf("readme.a.test", days=30, start_days=-60)  # expired: the role pushes
    cert = pki.write(tmp_path / "site.crt", old.pem + ca.intermediate.pem)
    key = pki.write(tmp_path / "site.key", old.key_pem(), 0o600)
    before = {cert: open(cert, "rb").read(), key: open(key, "rb").read()}
    base = tmp_path / "project"
    (base / "files").mkdir(parents=True)
    pki.write(base / "files" / "lb-ca.pem", ca.root.pem)  # the example's relative cert_remediation_ca_path
    renewed = ca.leaf("readme.a.test", days=90)
    source = base / "certs" / "readme"  # cert_remediation_source_dir's default, next to the playbook
    source.mkdir(parents=True)
    pki.write(source / "cert.pem", renewed.pem)
    pki.write(source / "chain.pem", ca.intermediate.pem)
    pki.write(source / "key.pem", renewed.key_pem(), 0o600)
    (base / "patch.yml").write_text(example)
    port = free_port()
    inventory = {"web": {"hosts": {"web01": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "cert_remediation_sites": [{"name": "readme", "server_type": "nginx", "cert_path": cert, "key_path": key,
                                    "endpoint": {"host": "127.0.0.1", "port": port, "server_name": "readme.a.test"},
                                    "server_names": ["readme.a.test"],
                                    "test_command": "false"}]}}}}  # the config test fails: rolled back
    (base / "inventory.yml").write_text(yaml.safe_dump(inventory))
    with Nginx(tmp_path / "srv", [{"name": "readme", "port": port, "server_names": ["readme.a.test"],
                                   "cert": cert, "key": key}]) as nginx:
        inventory["web"]["hosts"]["web01"]["cert_remediation_sites"][0]["reload_command"] = \
            " ".join(nginx.reload_command)
        (base / "inventory.yml").write_text(yaml.safe_dump(inventory))
        proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "inventory.yml", "patch.yml"], cwd=base,
                              capture_output=True, text=True, timeout=600, env=env(), check=False)
    out = proc.stdout
    assert proc.returncode != 0, out[-4000:]
    assert recap(out)["web01"]["failed"] == 1 and recap(out)["web01"]["rescued"] >= 1, out[-3000:]
    # the rescue ran and named the rolled-back site, with why
    rescue = out[out.index("TASK [Tell the change ticket what was rolled back]"):]
    assert "readme |" in rescue.split("TASK [", 2)[1] and "rolled back" in rescue.split("TASK [", 2)[1], rescue[:2000]
    assert "TASK [Fail the change (a rescued host would not stop the serial rollout)]" in out
    assert {path: open(path, "rb").read() for path in before} == before  # restored byte for byte
