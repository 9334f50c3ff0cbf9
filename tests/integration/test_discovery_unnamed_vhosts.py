"""An Apache VirtualHost with no name a probe can send of its own, held to REAL Apache 2.4 with `openssl s_client`
as the reference. mod_ssl compares a client's SNI with a VirtualHost's ServerName, which one without its own
inherits from the main server, and a client that sends no name (or a name no VirtualHost has) gets the first
VirtualHost of the address. Discovery probed every such VirtualHost without SNI: all but the first got the first
one's certificate, their sites "did not serve their files" and the role planned a reload that could change nothing
(Debian's default-ssl.conf, which has no ServerName, after a site's own VirtualHost on *:443, is the common case).

Now: one that inherits a name no earlier VirtualHost takes is probed with it; one that is its address's first is
probed without a name; any other is NO_PROBE_NAME, not probed, and the role leaves it to a person. (nginx's
counterpart is in test_discovery_regex_names.py.)
"""

from __future__ import annotations

import pytest

from testlib import lbjudge, pki
from testlib.ansible_run import diagnose_sites, openssl_leaf, run_module
from testlib.servers import ApacheLB, free_ports

CA = pki.CA("Unnamed VirtualHosts")
# ApacheLB's main server is `ServerName localhost`: the name a VirtualHost without its own inherits.
# label -> (its ServerName line, the names its certificate holds); in configuration order, on one address
VHOSTS = {
    "named": ("ServerName named.test", ["named.test"]),
    "inherits": ("", ["localhost"]),  # reached by SNI localhost
    "late": ("", ["late.test"]),  # localhost is the one above's: no name reaches it
    "underscore": ("ServerName _", ["underscore.test"]),  # a name no client sends
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "unnamed-vhosts")
    port, second, third = free_ports(3)
    body, leaves = "Listen 127.0.0.1:%d\nListen 127.0.0.1:%d\nListen %d\n" % (port, second, third), {}
    vhosts = [(label, "*:%d" % port, line, names) for label, (line, names) in VHOSTS.items()]
    # on an IP address: the first VirtualHost there, and one without a ServerName, which Apache names by a reverse
    # lookup of its address (not made by discovery: not probed)
    vhosts.append(("first", "127.0.0.1:%d" % second, "ServerName _", ["first.test"]))
    vhosts.append(("reverse", "127.0.0.1:%d" % second, "", ["localhost"]))
    # a third address: one of the addresses of `127.0.0.2:P *:P` is any address, so it inherits localhost, before
    # the next one without a name, and before one whose ServerName is localhost itself
    vhosts.append(("third", "*:%d" % third, "ServerName third.test", ["third.test"]))
    vhosts.append(("ipstar", "127.0.0.2:%d *:%d" % (third, third), "", ["localhost"]))
    vhosts.append(("star", "*:%d" % third, "", ["star.test"]))
    vhosts.append(("takes", "*:%d" % third, "ServerName localhost", ["localhost"]))
    for label, where, line, names in vhosts:
        leaves[label] = CA.leaf(names[0], names=names)
        body += ("<VirtualHost %s>\n  %s\n  SSLEngine on\n  SSLCertificateFile %s\n"
                 "  SSLCertificateKeyFile %s\n</VirtualHost>\n" % (
                     where, line, pki.write(base / ("%s.crt" % label), CA.chain_pem(leaves[label])),
                     pki.write(base / ("%s.key" % label), leaves[label].key_pem(), 0o600)))
    with ApacheLB(base / "apache", [], body) as apache:
        yield {"apache": apache, "port": port, "second": second, "third": third, "leaves": leaves}


def _discovered(world):
    result = run_module("backend_cert_info", {"discover": [{"type": "apache", "config": str(world["apache"].conf)}],
                                              "include_pem": False, "timeout": 15})
    return {s["cert_file"].rsplit("/", 1)[-1][:-4]: s for s in result["sites"]}


def test_each_virtual_host_is_probed_where_apache_sends_its_certificate(world):
    sites = _discovered(world)
    assert sorted(sites) == sorted(list(VHOSTS) + ["first", "reverse", "third", "ipstar", "star", "takes"])
    leaves = world["leaves"]
    for label in ("named", "inherits", "first", "third", "ipstar"):
        endpoint = sites[label]["endpoint"]
        # the reference: Apache sends this VirtualHost's certificate for the probe's name (or for none)
        assert openssl_leaf(endpoint["port"], endpoint["server_name"], endpoint["host"]) == leaves[label].fingerprint, (
            label, endpoint)
        assert sites[label]["served_matches_disk"] is True and sites[label]["error"] is None, sites[label]
    assert sites["inherits"]["endpoint"]["server_name"] == "localhost"
    assert sites["first"]["endpoint"] == {"host": "127.0.0.1", "port": world["second"], "server_name": None}
    # without a name, each address's first VirtualHost answers: a probe of the others got its certificate
    assert openssl_leaf(world["port"], None) == leaves["named"].fingerprint
    assert openssl_leaf(world["second"], None) == leaves["first"].fingerprint
    assert openssl_leaf(world["third"], "localhost") == leaves["ipstar"].fingerprint  # not "takes"
    for label in ("late", "underscore", "reverse", "star", "takes"):
        assert sites[label]["endpoint"] is None, sites[label]
        assert sites[label]["error"]["code"] == "NO_PROBE_NAME", sites[label]
        assert sites[label]["served_matches_disk"] is None
    assert "localhost" in sites["late"]["error"]["message"]
    assert "ServerName _" in sites["underscore"]["error"]["message"]
    assert "reverse lookup" in sites["reverse"]["error"]["message"]


def test_diagnose_plans_them_as_apache_serves_them(world, tmp_path):
    sites = diagnose_sites(tmp_path, CA.root.pem,
                           cert_remediation_discover=[{"type": "apache", "config": str(world["apache"].conf)}])
    actions = {name: (site["action"], site["reasons"][:1]) for name, site in sites.items()}
    assert actions == {
        "apache-named.test": ("none", []), "apache-inherits.crt": ("none", []),
        "apache-late.crt": ("manual", ["NO_PROBE_NAME"]), "apache-_": ("manual", ["NO_PROBE_NAME"]),
        "apache-_-2": ("none", []), "apache-reverse.crt": ("manual", ["NO_PROBE_NAME"]),
        "apache-third.test": ("none", []), "apache-ipstar.crt": ("none", []),
        "apache-star.crt": ("manual", ["NO_PROBE_NAME"]), "apache-localhost": ("manual", ["NO_PROBE_NAME"]),
    }, sites
