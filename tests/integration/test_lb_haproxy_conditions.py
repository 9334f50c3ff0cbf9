"""HAProxy's conditional blocks (`.if`, `.elif`, `.else`, `.endif`) as HAProxy 2.6 reads them, held to the REAL
HAProxy: the servers its `show stat` lists are those the load balancer's view lists. A condition decided in the file
(a number, `streq` of fixed words, `defined` of a `setenv` name, `!`, `&&`, `||`) is evaluated; one decided by what
HAProxy alone knows (its environment, features, version) is read, as every branch was before."""

from __future__ import annotations

from testlib import lbjudge
from testlib.servers import HAProxyLB, free_ports


def test_the_view_lists_the_servers_haproxy_reads(tmp_path):
    ports = free_ports(7)
    text = lbjudge.haproxy_head("    setenv CERTOPS_SET 1") + (
        "backend be\n"
        ".if 0\n    server skipped 127.0.0.1:%d\n"
        ".elif defined(CERTOPS_SET) && !streq(a,b)\n    server taken 127.0.0.1:%d\n"
        ".else\n    server not_taken 127.0.0.1:%d\n.endif\n"
        ".if streq(a,a) || defined(CERTOPS_NOT_SET)\n    server either 127.0.0.1:%d\n.endif\n"
        ".if feature(OPENSSL)\n    server decided_by_haproxy 127.0.0.1:%d\n.endif\n"
        ".if 1\n.if 0\n    server nested_skipped 127.0.0.1:%d\n.else\n    server nested_taken 127.0.0.1:%d\n.endif\n"
        ".endif\n" % tuple(ports))
    with HAProxyLB(tmp_path / "haproxy", text) as haproxy:
        listed = sorted(name for name in haproxy.stat() if name not in ("BACKEND", "FRONTEND"))
        view = lbjudge.read({"haproxy": haproxy})
    assert listed == ["decided_by_haproxy", "either", "nested_taken", "taken"]
    assert sorted(item["server"] for item in view["lb_backends"]) == listed
