"""The Apache reader's fixes of the review of 2026-12-07, on configurations held in memory (each case also held to the
real Apache in tests/integration/test_lb_apache_review_2026_12_07.py)."""

from __future__ import annotations

import pytest

from ansible_collections.certops.backend_tls.plugins.module_utils import _confread, _lbview, _lbview_apache

HEAD = "SSLProxyEngine on\nSSLProxyVerify require\nSSLProxyCACertificateFile /ca.pem\n"


def _items(text, files=None):
    source = _confread.FileSource(dict({"/a/apache2.conf": HEAD + text}, **(files or {})))
    return _lbview.lb_backends("apache", "/a/apache2.conf", source)


def _by_port(items):
    return {item["port"]: item for item in items}


def test_undefine_leaves_the_variable_as_written():
    (item,) = _items("Define DEPTH 5\nUnDefine DEPTH\nSSLProxyVerifyDepth ${DEPTH}\nProxyPass /a/ https://b:1/\n")
    assert item["verify_depth"] == 0  # atoi("${DEPTH}")
    (item,) = _items("Define DEPTH 5\nSSLProxyVerifyDepth ${DEPTH}\nProxyPass /a/ https://b:1/\n")
    assert item["verify_depth"] == 5


def test_include_of_a_directory_reads_its_subdirectories(tmp_path):
    (tmp_path / "conf.d" / "sub").mkdir(parents=True)
    (tmp_path / "conf.d" / "sub" / "p.conf").write_text("ProxyPass /a/ https://b:1/\n")
    (tmp_path / "conf.d" / "z.conf").write_text("ProxyPass /z/ https://b:2/\n")
    (tmp_path / "other.d" / "deeper" / "deepest").mkdir(parents=True)
    (tmp_path / "other.d" / "deeper" / "deepest" / ".hidden").write_text("ProxyPass /h/ https://b:3/\n")
    (tmp_path / "main.conf").write_text(HEAD + "Include %s/conf.d/\nInclude %s/oth*\n" % (tmp_path, tmp_path))
    items = _lbview.lb_backends("apache", str(tmp_path / "main.conf"), _confread.FileSource())
    # (sub/ sorts before z.conf; a dot file in a directory read whole is read too)
    assert [(i["port"], i["error"]) for i in items] == [(1, None), (2, None), (3, None)]


@pytest.mark.parametrize("text, message", [
    ("<Location /a/>\n  SSLProxyVerify none\n  ProxyPass https://b:1/\n</Location>\n",
     "SSLProxyVerify not allowed in <Location> context"),
    ("<LocationMatch ^/a>\n  SSLProxyEngine on\n</LocationMatch>\nProxyPass /a/ https://b:1/\n",
     "SSLProxyEngine not allowed in <LocationMatch> context"),
    ("<Files x>\n  SSLProxyCheckPeerName on\n</Files>\nProxyPass /a/ https://b:1/\n",
     "SSLProxyCheckPeerName not allowed in <Files> context"),
    ("<Directory /srv>\n  ProxyPass /a/ https://b:1/\n</Directory>\n", "ProxyPass cannot occur within <Directory>"),
    ("<FilesMatch x>\n  ProxyPass /a/ https://b:1/\n</FilesMatch>\n", "ProxyPass cannot occur within <FilesMatch>"),
    ("Include /a/missing.conf\nProxyPass /a/ https://b:1/\n", "Could not open configuration file /a/missing.conf"),
    ("Include /a/*.none\nProxyPass /a/ https://b:1/\n", "No matches for the wildcard '*.none'"),
])
def test_what_apache_refuses_is_invalid_config(text, message):
    (item,) = _items(text)
    assert item["error"]["code"] == "INVALID_CONFIG" and message in item["error"]["message"], item


@pytest.mark.parametrize("text", [
    "IncludeOptional /a/*.none\nIncludeOptional /a/missing.conf\n",
    "Include /a/conf.d\n",  # a dump's directory
    "Include ${NOT_DEFINED_HERE}/x.conf\n",  # (Apache's environment may define it)
    "<Location /x/>\n  ProxyPreserveHost On\n</Location>\n<Files x>\n  ProxyPreserveHost On\n</Files>\n",
    "<Proxy https://b:1/>\n  SSLProxyVerify none\n</Proxy>\n",
])
def test_what_apache_takes_is_read(text):
    (item,) = _items(text + "ProxyPass /a/ https://b:1/\n", {"/a/conf.d/x.conf": "# nothing\n"})
    assert item["error"] is None, item


def test_tls_over_a_unix_socket_is_unsupported_address():
    items = _items("ProxyPass /s/ unix:/run/s.sock|https://localhost/\nProxyPass /p/ UNIX:/run/p.sock|http://h/\n"
                   "<Proxy balancer://q>\n  BalancerMember unix:/run/q.sock|https://q.test/\n</Proxy>\n"
                   "ProxyPass /q/ balancer://q/\n")
    assert [(i["server"], i["address"], i["verify_name"], i["error"]["code"]) for i in items] == [
        ("unix:/run/s.sock", None, "localhost", "UNSUPPORTED_ADDRESS"),
        ("unix:/run/q.sock", None, "q.test", "UNSUPPORTED_ADDRESS")]


def test_a_refused_file_keeps_a_unix_socket_invalid_config():
    (item,) = _items("SSLProxyVerify bogus\nProxyPass /s/ unix:/run/s.sock|https://localhost/\n")
    assert item["error"]["code"] == "INVALID_CONFIG"


def test_a_balancer_in_pieces_has_every_member():
    items = _items("<Proxy balancer://p1>\n  BalancerMember https://b:1/\n</Proxy>\n"
                   "<Proxy balancer://p1>\n  BalancerMember https://b:2/\n</Proxy>\nProxyPass /p1/ balancer://p1/\n"
                   "BalancerMember balancer://p2 https://b:3/\n<Proxy balancer://p2>\n  BalancerMember https://b:4/\n"
                   "</Proxy>\nBalancerMember balancer://p2 https://b:5/\nProxyPass /p2/ balancer://p2/\n")
    assert [(i["location"], i["port"]) for i in items] == [
        ("main server /p1/", 1), ("main server /p1/", 2), ("main server /p2/", 3), ("main server /p2/", 4),
        ("main server /p2/", 5)]


def test_proxypass_lines_that_take_no_request_are_disabled():
    items = _by_port(_items("ProxyPass /excl/ !\nProxyPass /excl/ https://b:1/\nProxyPass /s/ https://b:2/\n"
                            "ProxyPass /s/ https://b:3/\nProxyPass /s/sub https://b:4/\nProxyPass //s//x https://b:5/\n"
                            "ProxyPass /sx/ https://b:6/\nProxyPass /t https://b:7/\nProxyPass /tt https://b:8/\n"
                            "<Location /s/>\n  ProxyPass https://b:9/\n</Location>\n"))
    assert {port: item["disabled"] for port, item in items.items()} == {
        1: True, 2: False, 3: True, 4: True, 5: True, 6: False, 7: False, 8: False, 9: False}


@pytest.mark.parametrize("uri, alias, length", [
    ("/a/b", "/a/", 3), ("/a", "/a/", 0), ("/ab", "/a", 0), ("/a/b", "/a", 2), ("//a//b", "/a/", 5), ("/a", "/a", 2),
    ("/b", "/a", 0)])
def test_alias_match_as_mod_proxy(uri, alias, length):
    assert _lbview_apache._ap_alias_match(uri, alias) == length


def test_preservehost_follows_its_location():
    items = _by_port(_items("<Location /a/>\n  ProxyPreserveHost On\n  ProxyPass https://b:1/\n</Location>\n"
                            "<Directory /srv>\n  ProxyPreserveHost On\n</Directory>\n"
                            "<Location /c>\n  ProxyPreserveHost On\n</Location>\n"
                            "ProxyPass /b/ https://b:2/\nProxyPass /c/d/ https://b:3/\nProxyPass /cd/ https://b:4/\n"
                            "<LocationMatch ^/m>\n  ProxyPreserveHost On\n  ProxyPass https://b:5/\n</LocationMatch>\n"
                            "ProxyPass /m/ https://b:6/\n"))
    dynamic = {port: isinstance(item["verify_name"], dict) for port, item in items.items()}
    assert dynamic == {1: True, 2: False, 3: True, 4: False, 5: True, 6: False}


def test_the_main_servers_balancer_wins_over_a_virtualhosts_namesake():
    items = _items("Listen 8080\n<Proxy balancer://pool>\n  BalancerMember https://main.test:1/\n</Proxy>\n"
                   "<VirtualHost *:8080>\n  <Proxy balancer://pool>\n    BalancerMember https://vhost.test:2/\n"
                   "  </Proxy>\n  ProxyPass /p/ balancer://pool/\n</VirtualHost>\n"
                   "<VirtualHost *:8080>\n  <Proxy balancer://own>\n    BalancerMember https://own.test:3/\n"
                   "  </Proxy>\n  ProxyPass /o/ balancer://own/\n</VirtualHost>\n")
    assert [i["address"] for i in items] == ["main.test", "own.test"]
