"""No private key text anywhere: syslog, ansible-playbook -vvv output, registered results, report files.

A datagram listener takes the place of syslog at /dev/log (only where nothing is there: a real
syslog daemon is never displaced; the test skips and says why). Real ansible-playbook runs at
-vvv then drive:
  (a) cert_chain_verify: single form with key_content, batch form with items[].key_content, and keys
      pasted into a chain and into an item's chain (refused with INVALID_ARGUMENT);
  (b) backend_cert_info over a directory with a combined cert+key PEM (HAProxy), a PKCS#8 key file
      and an EC key file;
  (c) the cert_remediation role remediating the lab (tests/lab).
Every base64 line of every private key involved (the keys generated here, and every key file the lab
holds before and after the run) must be absent from the syslog data, the -vvv stdout/stderr and every
file written under the report directory. Lines shorter than 16 characters (a PEM's last line can be
"Zg==") are not looked for: they would be found by chance in any long base64 text.

The listener must really be listening: each run asserts it received the modules' "Invoked with" lines.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from lab import lab as labctl
from testlib import pki
from testlib.ansible_run import run_playbook
from testlib.syslog_listener import SyslogListener, Unavailable

ROLE_PLAYBOOK = Path(__file__).parent / "targets" / "cert_remediation" / "all_hosts.yml"
_KEY_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(.*?)-----END [A-Z0-9 ]*PRIVATE KEY-----", re.DOTALL)
_CERT_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.DOTALL)
MIN_LINE = 16


@pytest.fixture
def syslog():
    listener = SyslogListener()
    try:
        listener.start()
    except Unavailable as exc:
        pytest.skip("no syslog listener of our own at /dev/log: %s" % exc)
    try:
        yield listener
    finally:
        listener.stop()


def key_lines(*texts, public=()):
    """Every base64 line (>= MIN_LINE characters) of every PEM private key block in texts.

    Lines that also occur in a certificate (public) are left out: an EC key's PEM ends with its
    public point, which its certificate holds too, and their base64 can line up.
    """
    out = set()
    for text in texts:
        for body in _KEY_BLOCK.findall(text):
            out.update(line.strip() for line in body.splitlines() if len(line.strip()) >= MIN_LINE
                       and ":" not in line)  # not the "Proc-Type:" / "DEK-Info:" headers of legacy PEM
    public_text = "".join(_CERT_BLOCK.findall("".join(texts) + "".join(public)))
    return {line for line in out if line not in public_text}


def report_files(directory):
    return {str(p): p.read_text(errors="replace") for p in Path(directory).rglob("*") if p.is_file()}


def assert_nothing_leaked(lines, proc, syslog, report_dir):
    assert len(lines) >= 10, "too few key lines to look for: %d" % len(lines)
    places = {"syslog": syslog.text(), "stdout (-vvv)": proc.stdout, "stderr (-vvv)": proc.stderr}
    places.update(("report file " + path, text) for path, text in report_files(report_dir).items())
    leaks = {}
    for place, text in places.items():
        found = [line for line in lines if line in text]
        if found:  # how many, and what comes before the first one (which task or module leaked it)
            at = text.index(found[0])
            start = text.rfind("\n<", 0, at) + 1 if place == "syslog" else max(0, at - 300)
            leaks[place] = "%d lines, first after: %r" % (len(found), text[start:min(at, start + 300)])
    assert leaks == {}, "private key lines found (of %d looked for): %s" % (len(lines), json.dumps(leaks, indent=1))


def invoked(syslog, module):
    """The syslog messages in which the module logged its invocation."""
    return [m for m in syslog.messages if "ansible-certops.backend_tls.%s: Invoked with" % module in m]


def pem(key, fmt=serialization.PrivateFormat.PKCS8):
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def write_playbook(path, tasks, environment=None):
    play = [{"name": "No key in logs", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    if environment:
        play[0]["environment"] = environment
    path.write_text(json.dumps(play, indent=1))
    return path


def save(name, var):
    """A task writing a registered result to the report directory, as a role's report would."""
    return {"name": "Save %s" % var, "ansible.builtin.copy": {
        "content": "{{ %s | to_nice_json }}" % var, "dest": "{{ report_dir }}/%s.json" % name, "mode": "0600"}}


# On the controller with its own Python cert_chain_verify runs inside Ansible's process (its action plugin); a task
# environment makes it run as a module process, whose environment that is.
@pytest.mark.parametrize("where", ["in_process", "module"])
def test_cert_chain_verify_keeps_keys_out_of_logs(syslog, tmp_path, where):
    ca = pki.CA("NoKeyLogs")
    ec_leaf = ca.leaf("ec.nokey.test")
    rsa_leaf = ca.leaf("rsa.nokey.test", key=pki.new_key("rsa", 2048))
    pasted_keys = [pem(pki.new_key("rsa", 2048)), pem(pki.new_key(), serialization.PrivateFormat.TraditionalOpenSSL)]
    headless_key = pem(pki.new_key("rsa", 2048))  # pasted without its BEGIN line: no PEM block, only its END says key
    chain = ec_leaf.pem + ca.intermediate.pem
    report_dir = tmp_path / "report"
    report_dir.mkdir()
    variables = {
        "report_dir": str(report_dir), "root": ca.root.pem, "chain": chain, "key_single": ec_leaf.key_pem(),
        "batch_items": [
            {"name": "ec", "chain": chain, "server_names": ["ec.nokey.test"], "key_content": ec_leaf.key_pem()},
            {"name": "rsa", "chain": [rsa_leaf.pem, ca.intermediate.pem], "server_names": ["rsa.nokey.test"],
             "key_content": pem(rsa_leaf.key, serialization.PrivateFormat.TraditionalOpenSSL)},
            {"name": "wrong-key", "chain": chain, "key_content": rsa_leaf.key_pem()},
        ],
        "chain_with_key": ec_leaf.pem + pasted_keys[0] + ca.intermediate.pem,
        "item_chain_with_key": [ec_leaf.pem, ca.intermediate.pem, pasted_keys[1]],
        "headless": headless_key.split("\n", 1)[1],
    }
    verify = "certops.backend_tls.cert_chain_verify"
    playbook = write_playbook(tmp_path / "verify.yml", [
        {"name": "Single form with key_content", verify: {
            "chain": "{{ chain }}", "ca_content": "{{ root }}", "server_names": ["ec.nokey.test"],
            "key_content": "{{ key_single }}"}, "register": "single"},
        {"name": "Batch form with items[].key_content", verify: {
            "ca_content": "{{ root }}", "items": "{{ batch_items }}"}, "register": "batch"},
        {"name": "Key pasted into chain", verify: {
            "chain": "{{ chain_with_key }}", "ca_content": "{{ root }}"},
         "register": "pasted", "ignore_errors": True},
        {"name": "Key pasted into an item's chain", verify: {
            "ca_content": "{{ root }}", "items": [{"name": "x", "chain": "{{ item_chain_with_key }}"}]},
         "register": "pasted_item"},
        {"name": "Key without its BEGIN line as the CA", verify: {
            "chain": "{{ chain }}", "ca_content": "{{ headless }}"},
         "register": "headless_ca", "ignore_errors": True},
        {"name": "Key without its BEGIN line as an intermediate", verify: {
            "chain": "{{ chain }}", "ca_content": "{{ root }}", "intermediates": ["{{ headless }}"]},
         "register": "headless_list", "ignore_errors": True},
        {"name": "Results", "ansible.builtin.assert": {"that": [
            "headless_ca is failed", "headless_ca.error.code == 'INVALID_ARGUMENT'",
            "headless_list is failed", "headless_list.error.code == 'INVALID_ARGUMENT'",
            "single.valid", "single.findings == []",
            "batch.results | map(attribute='valid') | list == [true, true, false]",
            "batch.results[2].findings[0].code == 'KEY_MISMATCH'",
            "pasted is failed", "pasted.error.code == 'INVALID_ARGUMENT'",
            "pasted.msg == 'chain holds a private key; pass keys only as key_content/key_path'",
            "pasted_item is not failed", "pasted_item.results[0].error.code == 'INVALID_ARGUMENT'",
            "pasted_item.results[0].error.message == "
            "'items[0].chain[2] holds a private key; pass keys only as key_content/key_path'",
        ]}},
        save("single", "single"), save("batch", "batch"), save("pasted", "pasted"),
        save("pasted_item", "pasted_item"), save("headless_ca", "headless_ca"), save("headless_list", "headless_list"),
    ], environment={"CERTOPS_TEST_PATH": where} if where == "module" else None)
    proc = run_playbook(playbook, extra_vars=variables, args=["-vvv"])
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]

    if where == "module":
        # The listener hears the modules: the single form logs its invocation with the key masked.
        (single_line,) = [m for m in invoked(syslog, "cert_chain_verify") if "server_names=['ec.nokey.test']" in m]
        assert "key_content=NOT_LOGGING_PARAMETER" in single_line and "items=None" in single_line
        assert "AnsiballZ_cert_chain_verify.py" in proc.stdout  # -vvv shows the module process run
        # the keys without their BEGIN line were logged too, masked
        lines = invoked(syslog, "cert_chain_verify")
        assert [m for m in lines if "ca_content=********" in m], lines
        assert [m for m in lines if "intermediates=['********']" in m], lines
    else:
        assert invoked(syslog, "cert_chain_verify") == [] and "AnsiballZ_cert_chain_verify" not in proc.stdout
    assert len(list(report_dir.iterdir())) == 6
    lines = key_lines(ec_leaf.key_pem(), rsa_leaf.key_pem(), variables["batch_items"][1]["key_content"],
                      *pasted_keys, headless_key, public=[ec_leaf.pem, rsa_leaf.pem])
    assert_nothing_leaked(lines, proc, syslog, report_dir)


def test_backend_cert_info_keeps_keys_out_of_logs(syslog, tmp_path):
    ca = pki.CA("NoKeyInfo")
    combined = ca.leaf("haproxy.nokey.test", key=pki.new_key("rsa", 2048))
    pkcs8 = ca.leaf("pkcs8.nokey.test", key=pki.new_key("rsa", 2048))
    ec_leaf = ca.leaf("ec.nokey.test")
    certs = tmp_path / "certs"
    certs.mkdir()
    keys = {
        "combined.pem": combined.key_pem(),
        "pkcs8.key": pkcs8.key_pem(),
        "ec.key": pem(ec_leaf.key, serialization.PrivateFormat.TraditionalOpenSSL),
    }
    pki.write(certs / "combined.pem", combined.pem + ca.intermediate.pem + keys["combined.pem"], 0o600)
    pki.write(certs / "pkcs8.crt", pkcs8.pem + ca.intermediate.pem)
    pki.write(certs / "pkcs8.key", keys["pkcs8.key"], 0o600)
    pki.write(certs / "ec.crt", ec_leaf.pem)
    pki.write(certs / "ec.key", keys["ec.key"], 0o600)
    report_dir = tmp_path / "report"
    report_dir.mkdir()
    playbook = write_playbook(tmp_path / "info.yml", [
        {"name": "Collect a directory with keys in it", "certops.backend_tls.backend_cert_info": {
            "paths": [str(certs)]}, "register": "info"},
        {"name": "The keys were seen", "ansible.builtin.assert": {"that": [
            "info.files | selectattr('private_key.present') | list | length == 3",
        ]}},
        save("info", "info"),
    ])
    proc = run_playbook(playbook, extra_vars={"report_dir": str(report_dir)}, args=["-vvv"])
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    # the module the host ran: backend_cert_info's action describes the certificates on the controller
    assert invoked(syslog, "backend_cert_material"), syslog.messages[-5:]
    lines = key_lines(*[(certs / name).read_text() for name in keys], public=[combined.pem, pkcs8.pem, ec_leaf.pem])
    assert_nothing_leaked(lines, proc, syslog, report_dir)


@pytest.fixture
def lab(tmp_path):
    state = labctl.up(tmp_path / "lab")
    try:
        yield state
    finally:
        labctl.down(tmp_path / "lab")


def lab_key_lines(state):
    texts = [p.read_text(errors="ignore") for p in Path(state["dir"]).rglob("*")
             if p.is_file() and p.stat().st_size < 1 << 20]
    return key_lines(*texts)


def test_role_remediation_keeps_keys_out_of_logs(syslog, lab, tmp_path):
    report_dir = tmp_path / "reports"
    report_dir.mkdir()
    before = lab_key_lines(lab)
    proc = run_playbook(ROLE_PLAYBOOK, inventory=Path(lab["dir"]) / "inventory.yml", args=["-vvv"], extra_vars={
        "cert_remediation_mode": "remediate", "cert_remediation_report_dir": str(report_dir)})
    assert invoked(syslog, "backend_cert_material"), syslog.messages[-5:]
    assert list(report_dir.iterdir()), "the role wrote no report"
    lines = before | lab_key_lines(lab)  # old keys (now in backups) and the renewed ones
    assert len(lines) >= 20  # EC keys: about two private lines each, old and renewed, CA keys
    assert_nothing_leaked(lines, proc, syslog, report_dir)  # first: a failed run (rollbacks) must not leak either
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-2000:]


def test_the_checks_can_see_a_key(tmp_path):
    """assert_nothing_leaked finds a key line in each place it looks (so a pass means something)."""
    key = pki.new_key("rsa", 2048)
    text = pem(key)
    lines = key_lines(text)

    class Proc:
        stdout, stderr = "", ""

    class Log:
        messages = []

        def text(self):
            return "\n".join(self.messages)

    for where in ("stdout", "stderr", "syslog", "report"):
        proc, log = Proc(), Log()
        (tmp_path / where).mkdir()
        one_line = "x %s y" % sorted(lines)[3]
        if where in ("stdout", "stderr"):
            setattr(proc, where, one_line)
        elif where == "syslog":
            log.messages = [one_line]
        else:
            (tmp_path / where / "r.json").write_text(one_line)
        with pytest.raises(AssertionError, match="private key lines found"):
            assert_nothing_leaked(lines, proc, log, tmp_path / where)
