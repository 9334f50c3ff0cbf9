"""Verify depth against REAL load balancers: nginx (`proxy_ssl_verify_depth`) and Apache (`SSLProxyVerifyDepth`),
each verifying TLS backends on loopback whose chains have 0, 1 and 2 intermediates, and a self-signed leaf that the
load balancer's CA file holds itself.

One CA file (a root, and the self-signed leaf); one nginx process serving every backend, one port per (load
balancer, depth, chain) so no load balancer reuses a connection or a TLS session between cases:
- nginx 1.22: a `location` per (depth, chain) with `proxy_ssl_verify on`, `proxy_ssl_name` and, except for the
  default, `proxy_ssl_verify_depth N`: 200, or 502.
- Apache 2.4: a virtual host per depth (`SSLProxyVerifyDepth` is a server-level directive) with a `ProxyPass` per
  chain, `SSLProxyVerify require` and no name check (only the depth is under test here): 200, or 500.

For every case the collection's verdict -- lb_backend_info reads the configuration and probes the backend as that
load balancer would, lb_verify_items and cert_chain_verify judge the served chain -- must equal the load balancer's
own, under both profiles. The load balancers' own answers are asserted too (the table below, measured), so the
agreement cannot be vacuous, and they tell the two counts apart: Apache counts the trust anchor, nginx (OpenSSL)
does not, and Apache's depth 0 takes only a certificate its CA file holds itself.
"""

from __future__ import annotations

import contextlib

import pytest

from testlib import lbjudge, pki
from testlib.servers import ApacheLB, KindBackends, NginxLB, _run, free_ports, have, http_status

NAME = "depth.test"
ROOT = pki.issue("Depth Root CA", ca=True, days=3650)
INT1 = pki.issue("Depth Intermediate 1", issuer=ROOT, ca=True, days=1825)
INT2 = pki.issue("Depth Intermediate 2", issuer=INT1, ca=True, days=1825)
# chain -> (what the backend serves, intermediates between its leaf and the anchor)
CHAINS = {
    "direct": (lambda leaf: leaf.pem, 0),
    "one": (lambda leaf: leaf.pem + INT1.pem, 1),
    "two": (lambda leaf: leaf.pem + INT2.pem + INT1.pem, 2),
    "selfsigned": (lambda leaf: leaf.pem, None),  # the leaf is its own anchor: the CA file holds it
}
ISSUERS = {"direct": ROOT, "one": INT1, "two": INT2, "selfsigned": None}
NGINX_DEPTHS = (None, 0, 1, 2)  # None: the directive left out (nginx's default, 1)
APACHE_DEPTHS = (None, 0, 1, 2, 3)  # None: left out (Apache's default, 1)


def _accepts(lb, depth, chain):
    """What each load balancer does (measured on nginx 1.22 and Apache 2.4 with OpenSSL 3.0): nginx hands its
    depth to OpenSSL, which allows that many intermediates; Apache allows one fewer (its count includes the anchor),
    so at depth 0 only a certificate its CA file holds itself."""
    depth = 1 if depth is None else depth
    between = CHAINS[chain][1]
    if between is None:
        return True
    return between <= (depth if lb == "nginx" else depth - 1)


def _label(depth):
    return "default" if depth is None else "d%d" % depth


CASES = ([("nginx", d, c) for d in NGINX_DEPTHS for c in CHAINS]
         + [("apache", d, c) for d in APACHE_DEPTHS for c in CHAINS])


def _nginx_config(lb_port, ports, ca_file):
    locations = "".join(
        "        location /%s-%s/ {\n%s            proxy_pass https://127.0.0.1:%d/;\n        }\n" % (
            _label(depth), chain, "" if depth is None else "            proxy_ssl_verify_depth %d;\n" % depth,
            ports[("nginx", depth, chain)])
        for lb, depth, chain in CASES if lb == "nginx")
    return ("    proxy_ssl_verify on;\n    proxy_ssl_trusted_certificate %s;\n    proxy_ssl_name %s;\n"
            "    server {\n        listen 127.0.0.1:%d;\n%s    }\n" % (ca_file, NAME, lb_port, locations))


def _apache_config(lb_ports, ports, ca_file):
    vhosts = []
    for depth in APACHE_DEPTHS:
        passes = "".join("    ProxyPass /%s-%s/ https://127.0.0.1:%d/\n" % (
            _label(depth), chain, ports[("apache", depth, chain)]) for chain in CHAINS)
        vhosts.append("<VirtualHost 127.0.0.1:%d>\n    ServerName %s.lb.test\n    SSLProxyEngine on\n"
                      "    SSLProxyVerify require\n%s    SSLProxyCheckPeerName off\n    SSLProxyCheckPeerCN off\n"
                      "%s</VirtualHost>\n" % (lb_ports[depth], _label(depth),
                                              "" if depth is None else "    SSLProxyVerifyDepth %d\n" % depth, passes))
    return "SSLProxyCACertificateFile %s\n%s" % (ca_file, "".join(vhosts))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if not all(have(b) for b in ("nginx", "apache2")):
        pytest.fail("nginx and apache2 are test dependencies (hack/setup.sh installs them)")
    base = tmp_path_factory.mktemp("depth")
    files, leaves = {}, {}
    for chain, (serve, _between) in CHAINS.items():
        leaves[chain] = pki.issue(NAME, issuer=ISSUERS[chain])
        files[chain] = (pki.write(base / ("%s.crt" % chain), serve(leaves[chain])),
                        pki.write(base / ("%s.key" % chain), leaves[chain].key_pem(), 0o600))
    ca_file = pki.write(base / "lb-ca.pem", ROOT.pem + leaves["selfsigned"].pem)
    picked = free_ports(len(CASES) + 1 + len(APACHE_DEPTHS))
    ports = dict(zip(CASES, picked))
    nginx_port = picked[len(CASES)]
    apache_ports = dict(zip(APACHE_DEPTHS, picked[len(CASES) + 1:]))
    chain_ports = {}
    for (_lb, _depth, chain), port in ports.items():
        chain_ports.setdefault(chain, []).append(port)
    nginx = NginxLB(base / "nginx", nginx_port, _nginx_config(nginx_port, ports, ca_file))
    nginx.write_config()
    _run(nginx.test_command)
    apache = ApacheLB(base / "apache", list(apache_ports.values()), _apache_config(apache_ports, ports, ca_file))
    with contextlib.ExitStack() as running:  # stopped in reverse order, by their pids, whatever happens
        for server in (KindBackends(base / "backends", chain_ports, files), nginx, apache):
            running.enter_context(server)
        yield {"nginx": nginx, "apache": apache, "nginx_port": nginx_port, "apache_ports": apache_ports}


@pytest.fixture(scope="module")
def said(world):
    """{(lb, depth, chain): accepted}: each load balancer's own answer to a request proxied to that backend."""
    out = {}
    for lb, depth, chain in CASES:
        port = world["nginx_port"] if lb == "nginx" else world["apache_ports"][depth]
        status = http_status("http://127.0.0.1:%d/%s-%s/" % (port, _label(depth), chain))
        assert status in (200, 500, 502), (lb, depth, chain, status)
        out[(lb, depth, chain)] = status == 200
    return out


@pytest.fixture(scope="module")
def view(world):
    return lbjudge.read({"nginx": world["nginx"], "apache": world["apache"]})


def _case_of(item):
    """(lb, depth, chain) of a backend from its location, `/d1-one/` or `/default-two/`."""
    label, chain = item["location"].split()[-1].strip("/").split("-", 1)
    return (item["lb_type"], None if label == "default" else int(label[1:]), chain)


def test_the_load_balancers_count_depth_as_measured(said):
    """The table this file stands on: nginx's depth is OpenSSL's, Apache's counts the anchor."""
    assert said == {case: _accepts(*case) for case in CASES}
    # and the cases tell the counts apart: somewhere each load balancer refuses what the other accepts
    assert not said[("apache", 1, "one")] and said[("nginx", 1, "one")]
    assert not said[("apache", 0, "direct")] and said[("apache", 0, "selfsigned")]


def test_every_depth_is_read_as_the_load_balancer_counts_it(view):
    depths = {_case_of(item): item["verify_depth"] for item in view["lb_backends"]}
    assert set(depths) == set(CASES)
    for (lb, depth, _chain), read in depths.items():
        assert read == (1 if depth is None else depth), (lb, depth, read)
    # and handed to cert_chain_verify in OpenSSL's count: Apache's less one, so its 0 is -1
    converted = {_case_of(item): item["verify_options"]["verify_depth"] for item in view["lb_backends"]}
    for (lb, depth, _chain), given in converted.items():
        assert given == (1 if depth is None else depth) - (lb == "apache"), (lb, depth, given)


@pytest.mark.parametrize("profile", ["openssl", "webpki"])
def test_the_collection_judges_depth_as_each_load_balancer_does(said, view, profile):
    verdicts = lbjudge.verdicts(view, profile, _case_of)
    assert set(verdicts) == set(CASES)
    disagree = {case: (said[case], verdicts[case]) for case in CASES if verdicts[case][0] != said[case]}
    assert not disagree, disagree
    for case in CASES:
        if not said[case]:
            assert verdicts[case][1] == ["CHAIN_TOO_LONG"], (case, verdicts[case])
