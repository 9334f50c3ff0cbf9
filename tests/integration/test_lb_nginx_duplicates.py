"""A proxy_ssl_* setting given twice at one level of an nginx load balancer (from the differential hunt of
2026-12-07): nginx refuses the file ("directive is duplicate"), and a running nginx keeps what it loaded before. The
collection read the last value and judged the backend by it; such a backend is INVALID_CONFIG now, as `nginx -t`
says. `proxy_ssl_protocols` (a bitmask: its lines add up) and `proxy_ssl_conf_command` (one command a line) may be
given several times, and are not refused.
"""

from __future__ import annotations

import subprocess

import pytest

from testlib import lbjudge, pki
from testlib.servers import NginxLB, free_ports

ROOT = pki.issue("Duplicates Root CA", ca=True, days=3650)
CLIENT = pki.issue("client.test", issuer=ROOT, names=["client.test"])
# each set once a level by nginx 1.22 (ngx_conf_set_*_slot and the password file's and resolver's own handlers)
REFUSED = {
    "verify": "proxy_ssl_verify off",
    "trusted": "proxy_ssl_trusted_certificate {ca}",
    "name": "proxy_ssl_name backend.test",
    "server_name": "proxy_ssl_server_name on",
    "ciphers": "proxy_ssl_ciphers DEFAULT",
    "certificate": "proxy_ssl_certificate {cert}",
    "certificate_key": "proxy_ssl_certificate_key {key}",
    "depth": "proxy_ssl_verify_depth 2",
    "crl": "proxy_ssl_crl {ca}",
    "passwords": "proxy_ssl_password_file {passwords}",
    "resolver": "resolver 127.0.0.1",
}
ACCEPTED = {
    "protocols": "proxy_ssl_protocols TLSv1.2",
    "conf_command": "proxy_ssl_conf_command Options -SessionTicket",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "nginx-duplicates")
    (base / "passwords").write_text("unused\n")
    return {"ca": pki.write(base / "ca.crt", ROOT.pem), "cert": pki.write(base / "client.crt", CLIENT.pem),
            "key": pki.write(base / "client.key", CLIENT.key_pem(), 0o600), "passwords": str(base / "passwords"),
            "base": base}


def _server(index, listen, setting, level, backend_port):
    """One server block giving `setting` twice at `level` (server or location), proxying to backend_port."""
    twice = "%s; %s;" % (setting, setting)
    return ("    server {\n        listen 127.0.0.1:%d;\n        server_name s%d.test;\n        %s\n"
            "        location /%d/ { %s proxy_pass https://127.0.0.1:%d/; }\n    }\n") % (
        listen, index, twice if level == "server" else "", index, twice if level == "location" else "",
        backend_port)


def _cases(files):
    return [(name, setting.format(**files), level, name in REFUSED)
            for name, setting in list(REFUSED.items()) + list(ACCEPTED.items()) for level in ("server", "location")]


def test_a_setting_given_twice_at_one_level_is_a_configuration_nginx_refuses(files, tmp_path):
    listen, backend_port = free_ports(2)
    cases = _cases(files)
    # nginx itself, one case a file: which it refuses
    for index, (name, setting, level, refused) in enumerate(cases):
        alone = NginxLB(tmp_path / ("alone%d" % index), listen, _server(index, listen, setting, level, backend_port))
        alone.write_config()
        checked = subprocess.run(alone.test_command, capture_output=True, text=True, check=False)
        directive = setting.split()[0]
        if refused:
            assert checked.returncode != 0 and '"%s" directive is duplicate' % directive in checked.stderr, \
                (name, level, checked.stderr)
        else:
            assert checked.returncode == 0, (name, level, checked.stderr)
    # the collection, every case in one file (nginx -T refuses it: read from the files, with a warning)
    together = NginxLB(tmp_path / "together", listen, "".join(
        _server(index, listen, setting, level, backend_port) for index, (_n, setting, level, _r) in enumerate(cases)))
    together.write_config()
    result = lbjudge.read({"nginx": together})
    by_location = {item["location"].split()[-1].strip("/"): item for item in result["lb_backends"]}
    assert len(by_location) == len(cases), result["lb_backends"]
    for index, (name, setting, level, refused) in enumerate(cases):
        item = by_location[str(index)]
        directive = setting.split()[0]
        if refused:
            assert item["error"]["code"] == "INVALID_CONFIG", (name, level, item)
            assert '"%s" directive is duplicate' % directive in item["error"]["message"], (name, level, item)
            assert "nginx refuses" in item["error"]["message"], item
        else:
            assert item["error"] is None, (name, level, item)
