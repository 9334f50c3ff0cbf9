"""cert_remediation's ACME source (roles/cert_remediation/tasks/acme.yml) against a real Pebble and a real nginx.

The backend is nginx serving the site over TLS (an expired certificate from an old internal CA) and, on a plain
HTTP port, the webroot's /.well-known/acme-challenge/ -- the port Pebble's validation authority is configured
to connect to, names resolved to 127.0.0.1 by pebble-challtestsrv (tests/testlib/pebble.py). acme.yml runs
through a playbook that includes the role with tasks_from, for one site, every variable passed explicitly.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import stat
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.certops.backend_tls.plugins.filter.remediation import subject_alt_names
from ansible_collections.certops.backend_tls.plugins.module_utils import _probe
from ansible_collections.certops.backend_tls.plugins.module_utils._names import checkable_names
from testlib import pebble as pebble_lib
from testlib import pki
from testlib.ansible_run import COLLECTIONS, ROOT, run_playbook
from testlib.servers import Nginx, free_port, have


def _have_community_crypto():
    return any(Path(p, "ansible_collections", "community", "crypto", "MANIFEST.json").is_file()
               for p in [str(COLLECTIONS)] + sys.path)


pytestmark = [
    pytest.mark.skipif(not pebble_lib.available(), reason="Pebble is not installed (Debian package pebble)"),
    pytest.mark.skipif(not have("nginx"), reason="nginx is not installed"),
    pytest.mark.skipif(not _have_community_crypto(),
                       reason="community.crypto is not installed (pip install -r requirements-acme.txt)"),
]

NAMES = ["shop.acme.test", "www.shop.acme.test"]
TARGET = ROOT / "tests" / "integration" / "targets" / "cert_remediation" / "all_hosts.yml"

# Every cert_remediation_acme_* variable, as the role's defaults will have them; each test overrides a few.
ACME_VARS = {
    "cert_remediation_acme_directory": "letsencrypt-staging",
    "cert_remediation_acme_api_ca_path": "",
    "cert_remediation_acme_terms_agreed": True,
    "cert_remediation_acme_contact": ["mailto:pki@acme.test"],
    "cert_remediation_acme_account_key_path": "",
    "cert_remediation_acme_account_key_content": "",
    "cert_remediation_acme_account_key_type": "ec256",
    "cert_remediation_acme_eab_kid": "",
    "cert_remediation_acme_eab_hmac_key": "",
    "cert_remediation_acme_eab_alg": "HS256",
    "cert_remediation_acme_key_type": "ec256",
    "cert_remediation_acme_reuse_key": False,
    "cert_remediation_acme_challenge": "http-01",
    "cert_remediation_acme_webroot": "",
    "cert_remediation_acme_dns_hook": "",
    "cert_remediation_acme_renew_days": 0,
    "cert_remediation_acme_force": False,
    "cert_remediation_acme_profile": "",
    "cert_remediation_acme_rate_limit_retries": 1,
    "cert_remediation_acme_rate_limit_delay": 1,
}

PLAYBOOK = """\
- name: Renewed material for one site from the ACME CA
  hosts: backends
  gather_facts: false
  tasks:
    - name: Order (or not) through the role's ACME source
      ansible.builtin.include_role:
        name: certops.backend_tls.cert_remediation
        tasks_from: acme.yml
      vars:
        __cert_remediation_site: "{{ acme_site }}"
      loop: "{{ acme_sites }}"
      loop_control:
        loop_var: acme_site

    - name: Hand what was done to the test
      ansible.builtin.copy:
        content: "{{ __cert_remediation_acme_results | to_json }}"
        dest: "{{ acme_result_file }}"
        mode: "0644"
      delegate_to: localhost
      check_mode: false
"""


class WebrootNginx(Nginx):
    """tests/testlib/servers.Nginx plus a plain-HTTP listener serving <webroot>/.well-known/acme-challenge/."""

    def __init__(self, workdir, sites, *, webroot, http_port):
        super().__init__(workdir, sites)
        self.webroot = Path(webroot)
        self.http_port = http_port

    @property
    def ports(self):
        return super().ports + [self.http_port]

    def write_config(self):
        super().write_config()
        (self.dir / "sites" / "zz-acme-http01.conf").write_text(
            "server {\n"
            "    listen 127.0.0.1:%d;\n"
            "    location /.well-known/acme-challenge/ { root %s; default_type text/plain; }\n"
            "    location / { return 404; }\n"
            "}\n" % (self.http_port, self.webroot))


@pytest.fixture
def backend(tmp_path):
    old_ca = pki.CA("Old Internal")
    expired = old_ca.leaf(NAMES[0], names=NAMES, days=30, start_days=-60)
    certs = tmp_path / "backend" / "certs"
    certs.mkdir(parents=True)
    cert = pki.write(certs / "site.crt", old_ca.chain_pem(expired))
    key = pki.write(certs / "site.key", expired.key_pem(), 0o600)
    webroot = tmp_path / "backend" / "webroot"
    webroot.mkdir()
    source = tmp_path / "source"
    source.mkdir()
    port, http_port = free_port(), free_port()
    server = WebrootNginx(tmp_path / "backend" / "nginx", [{"name": "shop", "port": port, "server_names": NAMES,
                                                            "cert": cert, "key": key}],
                          webroot=webroot, http_port=http_port)
    with server:
        yield {"dir": tmp_path, "server": server, "port": port, "http_port": http_port, "webroot": webroot,
               "source": source, "site_dir": source / "shop", "cert_path": cert, "key_path": key,
               "old_ca": old_ca}


def site_entry(b, names=tuple(NAMES), **extra):
    """A plan entry as tasks/remediate.yml hands it to the site's tasks (plugins/filter/remediation.py _plan): names as
    a server configuration writes them, normalised as the plan does."""
    names = checkable_names(names)
    return dict({"name": "shop", "server_type": "nginx", "cert_path": b["cert_path"], "key_path": b["key_path"],
                 "chain_path": None, "server_names": names, "subject_alt_names": subject_alt_names(names),
                 "action": "push", "reasons": ["EXPIRED"],
                 "endpoint": {"host": "127.0.0.1", "port": b["port"], "server_name": names[0]}}, **extra)


def run_acme(b, ca, *, site=None, sites=None, args=(), **overrides):
    """acme.yml through a playbook, for one site (or each of `sites` in turn); returns (CompletedProcess, its results
    dict (all sites' with `sites`) or None)."""
    playbook = b["dir"] / "acme-play.yml"
    playbook.write_text(PLAYBOOK)
    inventory = b["dir"] / "inventory.json"
    inventory.write_text(json.dumps({"backends": {"hosts": {"acme-backend": {}}, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}))
    result_file = b["dir"] / "acme-result.json"
    if result_file.exists():
        result_file.unlink()
    extra = dict(ACME_VARS, **{
        "acme_sites": sites or [site or site_entry(b)], "acme_result_file": str(result_file),
        "cert_remediation_source_dir": str(b["source"]), "cert_remediation_min_days": 30,
        "cert_remediation_acme_directory": ca.directory_url, "cert_remediation_acme_api_ca_path": ca.api_ca_file,
        "cert_remediation_acme_webroot": str(b["webroot"])})
    extra.update(overrides)
    proc = run_playbook(playbook, inventory=inventory, extra_vars=extra, args=args)
    results = json.loads(result_file.read_text()) if result_file.exists() else None
    return proc, (results if sites or results is None else results.get("shop"))


def failure(proc):
    """The host's final failure message (the rescue's), parsed from the default callback."""
    matches = re.findall(r"^fatal: \[acme-backend\]: FAILED! => (\{.*\})$", proc.stdout, re.MULTILINE)
    assert matches, proc.stdout[-5000:]
    return json.loads(matches[-1])["msg"]


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def challenge_files(*webroots):
    return [p for w in webroots for p in Path(w).glob(".well-known/acme-challenge/*")]


def snapshot(directory):
    """{relative path: sha256} of every file below directory (staging directories included)."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(directory).rglob("*")) if p.is_file()}


def without_account_key(files):
    """The account key may be made before an order fails: it is account material, not the site's."""
    return {path: digest for path, digest in files.items() if path != "acme-account.key"}


def key_bodies(*paths):
    """The base64 lines of every private key in paths that hold private bits: none may appear in any output.

    A line that is also in the public key's own PEM is public (an EC key's last line is its public point, which
    x509_certificate_info rightly shows), so it is left out.
    """
    lines = set()
    for path in paths:
        text = Path(path).read_text()
        public = "".join(serialization.load_pem_private_key(text.encode(), None).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode().split("\n")[1:-2])
        for block in re.findall(r"-----BEGIN [A-Z ]*PRIVATE KEY-----(.*?)-----END", text, re.DOTALL):
            lines.update(line for line in block.split() if len(line) >= 16 and line not in public)
    return lines


def assert_no_key_in(proc, *key_paths):
    output = proc.stdout + proc.stderr
    assert "PRIVATE KEY" not in output
    bodies = key_bodies(*key_paths)
    assert bodies, "no key to look for"
    leaked = [line for line in bodies if line in output]
    assert leaked == [], "private key material in the playbook output"


def leaf_and_chain(site_dir):
    leaf = x509.load_pem_x509_certificates((site_dir / "cert.pem").read_bytes())[0]
    chain = x509.load_pem_x509_certificates((site_dir / "chain.pem").read_bytes())
    return leaf, chain


def sans(cert):
    return sorted(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                  .get_values_for_type(x509.DNSName))


def spki(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def pebble_count(ca, what):
    return len(re.findall(what, ca.log))


def seed_old_material(b):
    """Renewed material from the old internal CA, as a file source would have left it (not from the ACME CA)."""
    leaf = b["old_ca"].leaf(NAMES[0], names=NAMES, days=365)
    b["site_dir"].mkdir(mode=0o700, exist_ok=True)
    pki.write(b["site_dir"] / "cert.pem", leaf.pem)
    pki.write(b["site_dir"] / "chain.pem", b["old_ca"].intermediate.pem)
    pki.write(b["site_dir"] / "key.pem", leaf.key_pem(), 0o600)


def test_http01_validated_for_real_then_the_role_pushes_what_was_issued(backend, tmp_path):
    b = backend
    with pebble_lib.Pebble(tmp_path / "pebble", http_port=b["http_port"]) as ca:
        proc, result = run_acme(b, ca, args=["-vvv"])
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
        assert result["ordered"] and result["reasons"] == ["NO_MATERIAL"], result
        # Pebble's validation authority fetched each name's challenge from nginx, over HTTP: no shortcut.
        for name in NAMES:
            assert "Attempting to validate w/ HTTP: http://%s:%d/.well-known/acme-challenge/" % (
                name, b["http_port"]) in ca.log
        assert pebble_count(ca, r"set VALID by completed challenge") == len(NAMES)

        leaf, chain = leaf_and_chain(b["site_dir"])
        root = x509.load_pem_x509_certificate(ca.issuing_root_pem().encode())
        intermediate = x509.load_pem_x509_certificate(ca.issuing_intermediate_pem().encode())
        assert chain == [intermediate]  # the issuing chain, without the root
        leaf.verify_directly_issued_by(intermediate)
        intermediate.verify_directly_issued_by(root)
        assert sans(leaf) == sorted(NAMES)
        key = serialization.load_pem_private_key((b["site_dir"] / "key.pem").read_bytes(), None)
        assert spki(key.public_key()) == spki(leaf.public_key())
        account_key = b["source"] / "acme-account.key"
        assert mode(b["site_dir"] / "key.pem") == 0o600
        assert mode(account_key) == 0o600
        assert mode(b["site_dir"]) == 0o700
        assert challenge_files(b["webroot"]) == []
        assert sorted(p.name for p in b["site_dir"].iterdir()) == ["acme.json", "cert.pem", "chain.pem", "key.pem"]
        record = json.loads((b["site_dir"] / "acme.json").read_text())
        assert record["directory"] == ca.directory_url and record["names"] == NAMES
        assert_no_key_in(proc, b["site_dir"] / "key.pem", account_key)

        # The material is in the role's source layout: the normal flow pre-flights it against the load
        # balancer's trust (here Pebble's root), pushes it, reloads nginx and verifies what it serves.
        lb_ca = pki.write(tmp_path / "lb-ca.pem", ca.issuing_root_pem())
        site = {"name": "shop", "server_type": "nginx", "cert_path": b["cert_path"], "key_path": b["key_path"],
                "endpoint": {"host": "127.0.0.1", "port": b["port"], "server_name": NAMES[0]},
                "server_names": NAMES, "test_command": " ".join(b["server"].test_command),
                "reload_command": " ".join(b["server"].reload_command)}
        inventory = tmp_path / "role-inventory.json"
        inventory.write_text(json.dumps({"backends": {"hosts": {"acme-backend": {"cert_remediation_sites": [site]}},
                                                      "vars": {"ansible_connection": "local",
                                                               "ansible_python_interpreter": sys.executable}}}))
        pushed = run_playbook(TARGET, inventory=inventory, extra_vars={
            "cert_remediation_mode": "remediate", "cert_remediation_ca_path": lb_ca,
            "cert_remediation_source_dir": str(b["source"]), "cert_remediation_reload": "command",
            "cert_remediation_backup_dir": str(tmp_path / "backups")})
        assert pushed.returncode == 0, pushed.stdout[-6000:]
        served = _probe.probe("127.0.0.1", b["port"], server_name=NAMES[0], timeout=5)
        assert served["ok"], served
        assert served["chain_der"][0] == leaf.public_bytes(serialization.Encoding.DER)
        assert_no_key_in(pushed, b["site_dir"] / "key.pem", account_key)


def test_no_new_order_while_the_material_present_will_do(backend, tmp_path):
    b = backend
    with pebble_lib.Pebble(tmp_path / "pebble", http_port=b["http_port"], always_valid=True) as ca:
        orders = r"POST /order-plz"

        checked, result = run_acme(b, ca, args=["--check"])
        assert checked.returncode == 0, checked.stdout[-5000:]
        assert result["would_order"] and not result["ordered"], result
        assert not b["site_dir"].exists() and pebble_count(ca, orders) == 0

        first, result = run_acme(b, ca)
        assert first.returncode == 0, first.stdout[-5000:]
        assert result["ordered"] and pebble_count(ca, orders) == 1
        before = snapshot(b["site_dir"])

        again, result = run_acme(b, ca)
        assert again.returncode == 0, again.stdout[-5000:]
        assert not result["ordered"] and result["reasons"] == [], result
        assert pebble_count(ca, orders) == 1, "a second order although the material present will do"
        assert snapshot(b["site_dir"]) == before

        # Forced, with the key kept when asked: a new certificate for the same key.
        kept, result = run_acme(b, ca, cert_remediation_acme_force=True, cert_remediation_acme_reuse_key=True)
        assert kept.returncode == 0, kept.stdout[-5000:]
        assert result["ordered"] and result["reasons"] == ["FORCED"], result
        after = snapshot(b["site_dir"])
        assert after["key.pem"] == before["key.pem"] and after["cert.pem"] != before["cert.pem"]

        # Wanting more days than the certificate has left (Pebble's last five years): a new order, a new key.
        renewed, result = run_acme(b, ca, cert_remediation_acme_renew_days=2000)
        assert renewed.returncode == 0, renewed.stdout[-5000:]
        assert result["reasons"] == ["FEWER_THAN_2000_DAYS"], result
        latest = snapshot(b["site_dir"])
        assert latest["key.pem"] != after["key.pem"] and latest["cert.pem"] != after["cert.pem"]
        assert pebble_count(ca, orders) == 3
        assert mode(b["site_dir"] / "key.pem") == 0o600

        # A chain file gone missing is no material to push (pre-flight would refuse it run after run): order.
        (b["site_dir"] / "chain.pem").unlink()
        rechained, result = run_acme(b, ca)
        assert rechained.returncode == 0, rechained.stdout[-5000:]
        assert result["reasons"] == ["NO_CHAIN"] and (b["site_dir"] / "chain.pem").is_file(), result
        assert pebble_count(ca, orders) == 4
        for proc in (checked, first, again, kept, renewed, rechained):
            assert_no_key_in(proc, b["site_dir"] / "key.pem", b["source"] / "acme-account.key")


FAILURES = {
    # Pebble refuses the order: a name on its block list (Let's Encrypt does the same for its own policy).
    "rejected-order": dict(pebble={"always_valid": True, "blocked": ["blocked.acme.test"]},
                           names=NAMES + ["blocked.acme.test"], at="Place the order and get the challenges",
                           reason=["rejectedIdentifier", "forbidden by policy", "blocked.acme.test"]),
    # A mistyped directory URL: told within seconds (community.crypto would retry an unreachable one 20 times).
    "wrong-directory": dict(pebble={"always_valid": True}, directory=lambda ca: ca.directory_url + "-typo",
                            at="The directory is an ACME directory", reason=["is not an ACME directory", "404"]),
    # A URL that answers, but not with a directory (here Pebble's root certificate).
    "not-a-directory": dict(pebble={"always_valid": True}, directory=lambda ca: ca.management_url + "/roots/0",
                            at="The directory is an ACME directory",
                            reason=["is not an ACME directory", "not with a directory"]),
    # Real validation against a webroot nginx does not serve: the challenge fails with the CA's reason.
    "failed-challenge": dict(pebble={}, webroot="unserved", at="Have the challenges validated",
                             reason=["unauthorized", "returned 404"]),
    # Every nonce rejected: community.crypto retries badNonce (RFC 8555 6.5) a few times, then gives up.
    "bad-nonces": dict(pebble={"always_valid": True, "nonce_reject": 100},
                       at="Make sure the account exists", reason=["badNonce", "invalid anti-replay nonce"]),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_a_failed_order_says_why_and_leaves_the_source_and_the_webroot_as_they_were(backend, tmp_path, case):
    b, spec = backend, FAILURES[case]
    seed_old_material(b)
    before = snapshot(b["source"])
    with pebble_lib.Pebble(tmp_path / "pebble", http_port=b["http_port"], **spec["pebble"]) as ca:
        overrides = {}
        if "directory" in spec:
            overrides["cert_remediation_acme_directory"] = spec["directory"](ca)
        webroots = [b["webroot"]]
        if spec.get("webroot") == "unserved":
            webroots.append(tmp_path / "unserved")
            overrides["cert_remediation_acme_webroot"] = str(webroots[-1])
        proc, result = run_acme(b, ca, site=site_entry(b, names=spec.get("names", NAMES)), **overrides)

        assert proc.returncode != 0 and result is None, proc.stdout[-5000:]
        message = failure(proc)
        assert message.startswith("ACME order for shop ("), message
        assert ".." not in message, message
        assert 'failed at "%s' % spec["at"] in message, message
        for reason in spec["reason"]:
            assert reason in message, message
        assert "The source files were left as they were" in message

        # Nothing half-made in the source directory (no staging directory left either), the material that was
        # there untouched, and no challenge file left in any webroot.
        assert without_account_key(snapshot(b["source"])) == without_account_key(before)
        assert [p.name for p in b["site_dir"].iterdir() if p.name.startswith(".acme")] == []
        assert challenge_files(*webroots) == []
        if case == "failed-challenge":
            # The challenge files were there for the CA to fetch (from the wrong place) -- and are gone again.
            assert "Attempting to validate w/ HTTP" in ca.log and (webroots[-1] / ".well-known/acme-challenge").is_dir()
        if case == "bad-nonces":
            # One try and community.crypto's retries: each with a fresh nonce, each rejected.
            assert pebble_count(ca, r"POST /sign-me-up") == 7, ca.log[-3000:]
        keys = [b["site_dir"] / "key.pem"] + ([b["source"] / "acme-account.key"]
                                              if (b["source"] / "acme-account.key").exists() else [])
        assert_no_key_in(proc, *keys)


def test_bad_nonces_now_and_then_are_retried_and_the_order_goes_through(backend, tmp_path):
    b = backend
    with pebble_lib.Pebble(tmp_path / "pebble", http_port=b["http_port"], always_valid=True, nonce_reject=30) as ca:
        proc, result = run_acme(b, ca)
        assert proc.returncode == 0, proc.stdout[-5000:]
        assert result["ordered"]
        leaf, _chain = leaf_and_chain(b["site_dir"])
        assert sans(leaf) == sorted(NAMES)


class _RateLimitingCA:
    """A directory that is Pebble's except for newOrder, which always answers 429 rateLimited (Retry-After: 1),
    as Let's Encrypt does when an account has placed too many orders. Counts the orders it refused."""

    def __init__(self, ca):
        directory = json.loads(urllib.request.urlopen(ca.directory_url, context=ca._ssl(), timeout=5).read())
        self.refused = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body, ctype, headers=()):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send(200, dict(directory, newOrder="http://127.0.0.1:%d/order" % owner.port),
                           "application/json")

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.refused += 1
                self._send(429, {"type": "urn:ietf:params:acme:error:rateLimited", "status": 429,
                                 "detail": "too many new orders recently"},
                           "application/problem+json", [("Retry-After", "1")])

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/dir" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_rate_limited_orders_back_off_a_bounded_number_of_times_then_fail_with_the_reason(backend, tmp_path):
    b = backend
    with pebble_lib.Pebble(tmp_path / "pebble", http_port=b["http_port"], always_valid=True) as ca, \
            _RateLimitingCA(ca) as limited:
        proc, result = run_acme(b, ca, cert_remediation_acme_directory=limited.url,
                                cert_remediation_acme_rate_limit_retries=1, cert_remediation_acme_rate_limit_delay=1)
        assert proc.returncode != 0 and result is None
        message = failure(proc)
        assert "rateLimited" in message and "too many new orders recently" in message, message
        assert "rate-limited by the CA: tried 2 times, 1 s apart" in message, message
        # Each try is community.crypto's own: the first request and its 20 retries after Retry-After.
        assert limited.refused == 2 * 21, limited.refused
        assert not (b["site_dir"] / "cert.pem").exists() and challenge_files(b["webroot"]) == []


DNS_HOOK = """\
# The user's dns-01 hook: publish or remove cert_remediation_acme_dns_challenge.records at the DNS server
# (here pebble-challtestsrv's management API), and note each call for the test.
- name: Publish or remove the TXT records
  ansible.builtin.uri:
    url: "{{{{ dns_api }}}}/{{{{ 'set-txt' if challenge.state == 'present' else 'clear-txt' }}}}"
    method: POST
    body_format: json
    body: "{{{{ {{'host': item.0.key ~ '.', 'value': item.1}} }}}}"
    status_code: 200
  loop: "{{{{ challenge.records | dict2items | subelements('value') }}}}"
  delegate_to: localhost
  vars:
    challenge: "{{{{ cert_remediation_acme_dns_challenge }}}}"

- name: Note the call
  ansible.builtin.lineinfile:
    path: {log}
    line: "{{{{ challenge.state }}}} {{{{ challenge.site }}}} {{{{ challenge.records | list | sort | join(',') }}}}"
    create: true
    mode: "0644"
  delegate_to: localhost
  vars:
    challenge: "{{{{ cert_remediation_acme_dns_challenge }}}}"
"""


def test_dns01_through_the_hook_orders_a_wildcard_and_removes_the_records(backend, tmp_path):
    b = backend
    log = tmp_path / "hook.log"
    hook = tmp_path / "dns-hook.yml"
    hook.write_text(DNS_HOOK.format(log=log))
    with pebble_lib.Pebble(tmp_path / "pebble", http_port=b["http_port"]) as ca:
        # nginx's ".shop.acme.test" is shop.acme.test and *.shop.acme.test: a wildcard, which only dns-01 can prove.
        proc, result = run_acme(b, ca, site=site_entry(b, names=[".shop.acme.test"]),
                                cert_remediation_acme_challenge="dns-01", cert_remediation_acme_dns_hook=str(hook),
                                cert_remediation_acme_webroot="",
                                dns_api="http://127.0.0.1:%d" % ca.dns_management_port)
        assert proc.returncode == 0, proc.stdout[-6000:]
        assert result["names"] == ["shop.acme.test", "*.shop.acme.test"]
        assert "Attempting to validate w/ HTTP" not in ca.log
        leaf, _chain = leaf_and_chain(b["site_dir"])
        assert sans(leaf) == sorted(["shop.acme.test", "*.shop.acme.test"])
        assert log.read_text().split("\n")[:2] == [
            "present shop _acme-challenge.shop.acme.test", "absent shop _acme-challenge.shop.acme.test"]
        assert challenge_files(b["webroot"]) == []


def test_http01_refuses_a_wildcard_before_ordering(backend, tmp_path):
    b = backend
    with pebble_lib.Pebble(tmp_path / "pebble", http_port=b["http_port"], always_valid=True) as ca:
        proc, _result = run_acme(b, ca, site=site_entry(b, names=[".shop.acme.test"]))
        assert proc.returncode != 0
        assert "wildcard names (*.shop.acme.test) need dns-01" in proc.stdout, proc.stdout[-3000:]
        assert pebble_count(ca, r"POST /order-plz") == 0 and not b["site_dir"].exists()


def test_external_account_binding(backend, tmp_path):
    b = backend
    hmac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"  # Pebble's example EAB key
    with pebble_lib.Pebble(tmp_path / "pebble", http_port=b["http_port"], always_valid=True,
                           eab={"kid-1": hmac}) as ca:
        refused, _result = run_acme(b, ca)
        assert refused.returncode != 0
        assert "this CA wants external account binding: set cert_remediation_acme_eab_kid" in failure(refused)
        proc, result = run_acme(b, ca, cert_remediation_acme_eab_kid="kid-1", cert_remediation_acme_eab_hmac_key=hmac)
        assert proc.returncode == 0, proc.stdout[-5000:]
        assert result["ordered"]
        assert hmac not in proc.stdout + proc.stderr


# -- found by a hunt of the ACME source (2026-12-07), each failing before its fix

FAILING_CLEANUP_HOOK = """\
- name: Publish the TXT records, and fail to remove them (a DNS API refusing the cleanup)
  ansible.builtin.uri:
    url: "{{ dns_api }}/{{ 'set-txt' if cert_remediation_acme_dns_challenge.state == 'present' else 'no-such-call' }}"
    method: POST
    body_format: json
    body: "{{ {'host': item.0.key ~ '.', 'value': item.1} }}"
    status_code: 200
  loop: "{{ cert_remediation_acme_dns_challenge.records | dict2items | subelements('value') }}"
  delegate_to: localhost
"""


def test_a_cleanup_that_fails_leaves_no_staging_directory_and_no_key_copy(backend, tmp_path):
    """The staging directory (a copy of the new key in it) was the last cleanup: a DNS hook failing to remove its
    records left it in the source directory."""
    b = backend
    hook = tmp_path / "hook.yml"
    hook.write_text(FAILING_CLEANUP_HOOK)
    with pebble_lib.Pebble(tmp_path / "pebble", http_port=b["http_port"]) as ca:
        proc, _result = run_acme(b, ca, site=site_entry(b, names=[".shop.acme.test"]),
                                 cert_remediation_acme_challenge="dns-01", cert_remediation_acme_dns_hook=str(hook),
                                 cert_remediation_acme_webroot="",
                                 dns_api="http://127.0.0.1:%d" % ca.dns_management_port)
    assert proc.returncode != 0 and "no-such-call" in proc.stdout, proc.stdout[-3000:]
    assert [p.name for p in b["site_dir"].iterdir() if p.name.startswith(".acme-staging")] == []


DNS_HOOK_OVER_HTTPS = """\
- name: Call the DNS provider's HTTPS API (its certificate from the system's store)
  ansible.builtin.uri:
    url: "{{ dns_api }}"
    status_code: 200
  delegate_to: localhost
"""


def test_the_acme_apis_ca_is_trusted_for_its_calls_alone_not_the_dns_hooks(backend, tmp_path, monkeypatch):
    """cert_remediation_acme_api_ca_path was set as SSL_CERT_FILE on the whole order: a dns-01 hook calling a DNS
    provider's HTTPS API (trusted by the system's store, here the SSL_CERT_FILE the run starts with) failed with
    CERTIFICATE_VERIFY_FAILED."""
    b = backend
    api_ca = pki.CA("Public DNS API")
    leaf = api_ca.leaf("localhost", names=["localhost"], ips=["127.0.0.1"])
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.write(tmp_path / "system-store.pem", api_ca.root.pem)))
    calls = []

    class Api(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            calls.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    context = _server_context(api_ca.chain_pem(leaf), leaf.key_pem(), tmp_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = tmp_path / "hook.yml"
    hook.write_text(DNS_HOOK_OVER_HTTPS)
    try:
        with pebble_lib.Pebble(tmp_path / "pebble", http_port=b["http_port"], always_valid=True) as ca:
            proc, result = run_acme(b, ca, site=site_entry(b, names=[".shop.acme.test"]),
                                    cert_remediation_acme_challenge="dns-01", cert_remediation_acme_dns_hook=str(hook),
                                    cert_remediation_acme_webroot="", dns_api="https://127.0.0.1:%d/" %
                                    server.server_address[1])
    finally:
        server.shutdown()
    assert proc.returncode == 0 and result["ordered"], proc.stdout[-4000:]
    assert len(calls) == 2  # published and removed, over HTTPS


def _server_context(chain_pem, key_pem, workdir):
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.write(workdir / "api.pem", chain_pem), pki.write(workdir / "api.key", key_pem, 0o600))
    return context


def test_a_certificate_that_does_not_outlast_the_renewal_threshold_is_used_and_said_to_be_reordered_each_run(
        backend, tmp_path):
    """Pebble issues certificates of about five years: a threshold beyond that made every run order again, without
    a word. The certificate is used (the site may be expired meanwhile), and the run says why it will order again."""
    b = backend
    with pebble_lib.Pebble(tmp_path / "pebble", http_port=b["http_port"], always_valid=True) as ca:
        proc, result = run_acme(b, ca, cert_remediation_acme_renew_days=4000)
        assert proc.returncode == 0 and result["ordered"] and result["short_lived"] is True, proc.stdout[-3000:]
        assert "ACME_SHORT_LIVED: shop" in proc.stdout and (b["site_dir"] / "cert.pem").exists()
        proc, result = run_acme(b, ca)
        assert proc.returncode == 0 and not result["ordered"] and result["short_lived"] is False


def test_an_ed25519_site_is_refused_before_any_order(backend, tmp_path):
    """An Ed25519 site of a server holding several key types got an EC P-256 certificate ordered into its slot."""
    b = backend
    site = site_entry(b, name="shop+ed25519")
    site["endpoint"] = dict(site["endpoint"], key_type="Ed25519")
    with pebble_lib.Pebble(tmp_path / "pebble", http_port=b["http_port"], always_valid=True) as ca:
        proc, _result = run_acme(b, ca, site=site)
        assert proc.returncode != 0 and "ACME_KEY_TYPE" in proc.stdout, proc.stdout[-3000:]
        assert pebble_count(ca, r"POST /order-plz") == 0


def test_sites_whose_source_files_share_a_directory_each_keep_their_record(backend, tmp_path):
    """acme.json was one record per directory: two sites whose `source` files share one each saw the other's record
    (NOT_FROM_THIS_CA) and ordered again on every run."""
    b = backend
    shared = tmp_path / "shared"
    sites = [site_entry(b, name=name, source={kind: str(shared / file) for kind, file in (
        ("cert", "%s.crt" % name), ("key", "%s.key" % name), ("chain", "%s-chain.pem" % name))})
        for name in ("a", "b")]
    with pebble_lib.Pebble(tmp_path / "pebble", http_port=b["http_port"], always_valid=True) as ca:
        first_proc, first = run_acme(b, ca, sites=sites)
        second_proc, second = run_acme(b, ca, sites=sites)
        orders = pebble_count(ca, r"POST /order-plz")
    assert first_proc.returncode == 0 and second_proc.returncode == 0, second_proc.stdout[-3000:]
    assert {name: r["ordered"] for name, r in first.items()} == {"a": True, "b": True}
    assert {name: (r["ordered"], r["reasons"]) for name, r in second.items()} == {"a": (False, []), "b": (False, [])}
    assert orders == 2
    record = json.loads((shared / "acme.json").read_text())
    assert sorted(record["sites"]) == ["a", "b"] and record["directory"] == ca.directory_url


def test_ip_addresses_are_ordered_as_ip_identifiers_validated_over_http01(backend, tmp_path):
    """An IP address among a site's names (nginx's proxy_ssl_name defaults to the upstream's address) was put in the
    CSR as a DNS name (DNS:127.0.0.1), which a CA refuses; the coverage checks looked for it as one too. It is an IP
    identifier (RFC 8738) now, validated by Pebble fetching the challenge from the address itself, and never the
    common name (acme_certificate orders a common name as a DNS name)."""
    b = backend
    names = ["127.0.0.1", NAMES[0], "[::1]"]
    with pebble_lib.Pebble(tmp_path / "pebble", http_port=b["http_port"]) as ca:
        refused, _result = run_acme(b, ca, site=site_entry(b, names=names), cert_remediation_acme_challenge="dns-01",
                                    cert_remediation_acme_dns_hook=str(tmp_path / "unused-hook.yml"))
        assert refused.returncode != 0
        assert "IP addresses (127.0.0.1, ::1) need http-01" in refused.stdout, refused.stdout[-3000:]
        assert pebble_count(ca, r"POST /order-plz") == 0

        names = names[:2]  # Pebble's validation authority reaches 127.0.0.1, where the backend's nginx listens
        proc, result = run_acme(b, ca, site=site_entry(b, names=names))
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
        assert result["ordered"] and result["names"] == names, result
        assert "Attempting to validate w/ HTTP: http://127.0.0.1:%d/.well-known/acme-challenge/" % b["http_port"] \
            in ca.log
        leaf, _chain = leaf_and_chain(b["site_dir"])
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
        assert san.get_values_for_type(x509.DNSName) == [NAMES[0]]

        again, result = run_acme(b, ca, site=site_entry(b, names=names))
        assert again.returncode == 0 and not result["ordered"] and result["reasons"] == [], again.stdout[-3000:]
        assert pebble_count(ca, r"POST /order-plz") == 1


@pytest.mark.parametrize("material", ["old", "linked", "none"])
def test_a_move_that_fails_half_way_puts_back_what_was_there_byte_for_byte(backend, tmp_path, material):
    """The new key was moved into place first; a chain that could not be moved then left the old certificate beside
    a key not its own, the old key lost, and the failure said the source files were left as they were. They are now:
    what each move replaced is put back, with its mode, and a file that was not there is removed again."""
    b = backend
    if material in ("old", "linked"):
        seed_old_material(b)
        os.chmod(b["site_dir"] / "cert.pem", 0o640)
        if material == "linked":  # as certbot's live/ directory names its archive/ files
            (b["site_dir"] / "key.pem").rename(b["site_dir"] / "key-1.pem")
            (b["site_dir"] / "key.pem").symlink_to("key-1.pem")
    else:
        b["site_dir"].mkdir(mode=0o700)
    before = snapshot(b["site_dir"])
    modes = {path.name: mode(path) for path in b["site_dir"].iterdir()}
    # the chain's directory does not exist: its move fails after the key's went through
    site = site_entry(b, source={"cert": str(b["site_dir"] / "cert.pem"), "key": str(b["site_dir"] / "key.pem"),
                                 "chain": str(tmp_path / "no-such-directory" / "chain.pem")})
    with pebble_lib.Pebble(tmp_path / "pebble", http_port=b["http_port"], always_valid=True) as ca:
        proc, _result = run_acme(b, ca, site=site)
        assert pebble_count(ca, r"POST /order-plz") == 1, "the order must get as far as the moves"
    assert proc.returncode != 0
    message = failure(proc)
    assert 'failed at "Move the new chain and certificate into place"' in message, message
    assert "The source files were left as they were" in message
    assert snapshot(b["site_dir"]) == before
    assert (b["site_dir"] / "key.pem").is_symlink() == (material == "linked")
    if material == "linked":
        assert os.readlink(b["site_dir"] / "key.pem") == "key-1.pem"
    assert {path.name: mode(path) for path in b["site_dir"].iterdir()} == modes
    assert not (tmp_path / "no-such-directory").exists()
    if material != "none":
        assert_no_key_in(proc, b["site_dir"] / "key.pem")
    else:
        assert before == {} and "PRIVATE KEY" not in proc.stdout + proc.stderr
