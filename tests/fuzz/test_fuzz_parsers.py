"""Property-based fuzzing of every parser: certificate material, web server configs, `at`, endpoints.

Property everywhere: a parser returns its value or raises CertError; no other exception, no hang.
Inputs are structured but hostile: real certificates and keys (generated with cryptography) mutated,
configs generated from each server's grammar and then corrupted.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import tempfile

import pytest
from fuzz import fuzzlib
from fuzz.fuzzlib import examples, material, time_limit
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ansible_collections.certops.backend_tls.plugins.module_utils import (
    _base,
    _certs,
    _collect,
    _confread,
    _discover,
    _verify,
)
from ansible_collections.certops.backend_tls.plugins.module_utils._certs import CertError
from testlib import printable

SITE_KEYS = {"name", "server_type", "config_file", "server_names", "listen", "cert_file", "key_file",
             "chain_file", "endpoint", "error"}
HANG_SECONDS = 20  # generous on a shared 2-core machine; a real hang runs forever


def value_or_certerror(func, *args, **kwargs):
    """func's value, or None when it raised CertError (with a code and a message); anything else escapes."""
    try:
        with time_limit(HANG_SECONDS):
            return func(*args, **kwargs)
    except CertError as exc:
        assert isinstance(exc.code, str) and exc.code and isinstance(exc.message, str)
        return None


# ---------------------------------------------------------------- certificate material

@settings(max_examples=examples(200, 20000))
@given(data=material())
def test_parse_material(data):
    result = value_or_certerror(_certs.parse_material, data)
    if result is not None:
        assert result["format"] in ("pem", "der")
        assert all(isinstance(der, bytes) for der in result["ders"])
        assert result["ders"] or result["key"] is not None


_PRINTABLE_CHAIN = printable.chain("fuzz.printable.test")


@settings(max_examples=examples(200, 20000))
@given(which=st.sampled_from([1, 2]), edits=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 4000)))
def test_lenient_certificate_reading(which, edits, cut):
    """A certificate with out-of-type PrintableStrings, its bytes edited or cut: read or CertError; when read, its own
    bytes come back (der_of), and what its issuer signed (tbs_of) is its own to-be-signed part: where the outer
    SEQUENCE's header ends, as long as what cryptography read, differing from it only by PrintableString tags
    where the copy has UTF8String."""
    der = bytearray(_PRINTABLE_CHAIN[which].der)
    for position, value in edits:
        der[position % len(der)] = value
    der = bytes(der[:cut] if cut is not None else der)
    cert = value_or_certerror(_certs.load_certificate, der)
    if cert is not None:
        assert _certs.der_of(cert) == der
        tbs, read = _certs.tbs_of(cert), cert.tbs_certificate_bytes
        start = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)
        assert tbs == der[start:start + len(tbs)] and len(tbs) == len(read)
        assert all(own == 0x13 and copy == 0x0C for own, copy in zip(tbs, read) if own != copy)
        value_or_certerror(_certs.certificate_facts, der, now=datetime.datetime.now(datetime.timezone.utc), cert=cert)


_PRINTABLE_BUNDLE = printable.pkcs7(_PRINTABLE_CHAIN[2].der, _PRINTABLE_CHAIN[1].der)


@settings(max_examples=examples(100, 10000))
@given(edits=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=3),
       cut=st.one_of(st.none(), st.integers(0, 4000)))
def test_lenient_pkcs7_reading(edits, cut):
    """A PKCS#7 bundle of such certificates, edited or cut: read (each certificate it yields then reads on its own)
    or CertError."""
    data = bytearray(_PRINTABLE_BUNDLE)
    for position, value in edits:
        data[position % len(data)] = value
    data = bytes(data[:cut] if cut is not None else data)
    result = value_or_certerror(_certs.parse_material, data)
    if result is not None and result["format"] == "pkcs7":
        for der in result["ders"]:
            assert _certs.der_of(_certs.load_certificate(der)) == der


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory(prefix="certops-fuzz-") as tmp:
        yield tmp


@settings(max_examples=examples(100, 5000))
@given(data=material())
def test_file_pipeline_never_raises(scratch, data):
    """What backend_cert_info does with each file: read, parse, describe every certificate, pair the key."""
    path = os.path.join(scratch, "material.pem")
    with open(path, "wb") as handle:
        handle.write(data)
    collector = _collect.Collector(include_pem=True)
    with time_limit(HANG_SECONDS):
        entry = collector.add_file(path)
    assert entry["error"] is None or set(entry["error"]) == {"code", "message"}
    for fingerprint in entry["chain"]:
        assert "PRIVATE KEY" not in collector.certificates[fingerprint]["pem"]


@settings(max_examples=examples(60, 3000))
@given(data=material(), names=st.lists(st.sampled_from(["verify.fuzz.test", "other.test", "127.0.0.1", "", "*"]),
                                       max_size=2))
def test_verify_item_never_raises(data, names):
    """cert_chain_verify's per-item path: any chain text is a result (PARSE_ERROR at worst), never an exception."""
    ca, _leaf = fuzzlib.ca_bundle()
    verifier = _verify.build_verifier(ca_content=ca.root_pem)
    text = data.decode("ascii", "replace")
    with time_limit(HANG_SECONDS):
        result = _verify.verify_item(verifier, {"chain": text, "server_names": names, "key_content": text})
    assert isinstance(result["valid"], bool) and isinstance(result["findings"], list)


# ---------------------------------------------------------------- `at` and endpoints

_RELATIVE_AT = st.builds(lambda sign, n, unit: "%s%d%s" % (sign, n, unit), st.sampled_from("+-"),
                         st.one_of(st.integers(0, 10**6), st.integers(0, 10**40)), st.sampled_from("smhdwy"))
_ISO_AT = st.builds(lambda dt, sep, z: dt.isoformat(sep=sep) + z,
                    st.datetimes(timezones=st.one_of(st.none(), st.timezones())), st.sampled_from("T "),
                    st.sampled_from(["", "Z", "z", "+00:00", "+14:00", "-23:59"]))
AT_VALUES = st.one_of(st.none(), st.just("now"), _RELATIVE_AT, _ISO_AT,
                      st.text(max_size=40), st.text(alphabet="0123456789-+:TZz. dhmsw\u0663", max_size=30))


@settings(max_examples=examples(200, 15000))
@given(value=AT_VALUES)
def test_parse_time(value):
    result = value_or_certerror(_verify.parse_time, value)
    if result is not None:
        assert isinstance(result, datetime.datetime) and result.utcoffset() == datetime.timedelta(0)


_HOSTS = st.one_of(st.sampled_from(["127.0.0.1", "::1", "[::1]", "localhost", "a.test", "", " ", "*", "[", "]"]),
                   st.text(max_size=20))
_PORT_STRINGS = ["443", "", "0", "65536", "1e3", " 8443", "\u0663", "\u00b2", "0x1bb"]
_PORTS = st.one_of(st.integers(-10, 70000), st.integers(), st.sampled_from(_PORT_STRINGS),
                   st.floats(allow_nan=True, allow_infinity=True), st.none(), st.booleans(),
                   st.lists(st.integers(), max_size=2))
_ENDPOINT_STRINGS = st.builds(lambda h, sep, p: "%s%s%s" % (h, sep, p), _HOSTS, st.sampled_from([":", "]:", "::", ""]),
                              _PORTS.map(str))
_ENDPOINT_DICTS = st.fixed_dictionaries({}, optional={
    "host": st.one_of(_HOSTS, st.integers(), st.none(), st.lists(st.text(), max_size=2)),
    "port": _PORTS,
    "server_name": st.one_of(st.none(), st.text(max_size=10), st.integers()),
    "proxy_protocol": st.one_of(st.none(), st.sampled_from(["v1", "v2", "V1", ""]), st.booleans(), st.integers(),
                                st.lists(st.text(), max_size=2))})
ENDPOINTS = st.one_of(_ENDPOINT_STRINGS, _ENDPOINT_DICTS, st.text(max_size=30), st.integers(), st.none(),
                      st.lists(st.text(), max_size=2), st.floats())


@settings(max_examples=examples(200, 15000))
@given(spec=ENDPOINTS)
def test_parse_endpoint(spec):
    result = value_or_certerror(_collect.parse_endpoint, spec)
    if result is not None:
        assert isinstance(result["port"], int) and 0 < result["port"] < 65536
        assert result["host"]
        assert result.get("proxy_protocol") in (None, "v1", "v2")
        assert ("proxy_protocol" in result) == (isinstance(spec, dict) and spec.get("proxy_protocol") is not None)


LISTEN_VALUES = st.one_of(
    st.builds(lambda p, h, port: p + h + port,
              st.sampled_from(["", "ipv4@", "ipv6@", "tcp@", "unix:", "abns@"]),
              st.sampled_from(["", "*:", "0.0.0.0:", "127.0.0.1:", "[::]:", "[::1]:", "[", "localhost:", ":", "[]:"]),
              _PORTS.map(str)),
    st.text(max_size=30))


@settings(max_examples=examples(200, 15000))
@given(value=LISTEN_VALUES)
def test_parse_listen(value):
    result = _discover.parse_listen(value)
    assert result is None or (isinstance(result[1], int) and 0 < result[1] < 65536)


# ---------------------------------------------------------------- web server configs

_PATHS = st.sampled_from([
    "/etc/ssl/a.pem", "certs/b.pem", "/etc/ssl/$ssl_server_name.crt", "${CERTS}/c.crt", "${UNDEFINED_VAR}/d.crt",
    "$CERTS/e.pem", "data:$variable", "/etc/ssl/x y.pem", "", ".", "/", "..", "../../etc/passwd", "\\",
    "a\x00b", "dir/", "/etc/ssl/\u00e9.pem",
])
_JUNK_STRINGS = ["{", "}", ";", "'", '"', "#", "\\", "\n", "\r", "\t", "\x00", "\ufeff", "x" * 5000, "\\\n"]
_JUNK = st.one_of(st.text(max_size=12), st.sampled_from(_JUNK_STRINGS))
_ADDR_STRINGS = ["443", "*:443", "127.0.0.1:8443", "[::]:443", "[::1]:\u0663", "unix:/run/s", ":8443", "0.0.0.0:99999",
                 "*:0", "a:b:c", "[", "127.0.0.1:8443,127.0.0.2:8444"]
_ADDRS = st.one_of(st.sampled_from(_ADDR_STRINGS), _PORTS.map(str))
_NAMES = st.sampled_from(["a.test", "_", "*.w.test", "~^re$", "", "b.test:443", "\u00e9.test"])


def _corrupt(text, draw):
    for op in draw(st.lists(st.sampled_from(["insert", "delete", "dup", "long"]), max_size=3)):
        pos = draw(st.integers(0, len(text)))
        if op == "insert":
            text = text[:pos] + draw(_JUNK) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 20)):]
        elif op == "dup":
            text = text[:pos] + text[pos:pos + draw(st.integers(1, 200))] * draw(st.integers(2, 20)) + text[pos:]
        else:
            text = text[:pos] + "a" * draw(st.integers(1000, 50000)) + text[pos:]
    return text


def _quoted(draw, value):
    style = draw(st.sampled_from(["", "", '"', "'"]))
    return style + value + style


# nginx ---------------------------------------------------------------

NGINX_FILES = ["/etc/nginx/nginx.conf", "/etc/nginx/conf.d/a.conf", "/etc/nginx/conf.d/b.conf",
               "/etc/nginx/sites/c.conf"]
_NGINX_INCLUDES = st.sampled_from(["conf.d/*.conf", "/etc/nginx/nginx.conf", "sites/*", "*", "/etc/nginx/*/*",
                                   "conf.d/a.conf", "missing/*.conf", "/etc/nginx/conf.d", "[", "**"])


@st.composite
def nginx_directive(draw):
    name = draw(st.sampled_from(["listen", "server_name", "ssl_certificate", "ssl_certificate_key", "include",
                                 "ssl", "return", "user", "x"]))
    if name == "listen":
        args = [draw(_ADDRS)] + draw(st.lists(st.sampled_from(["ssl", "http2", "default_server", "quic"]), max_size=2))
    elif name == "server_name":
        args = draw(st.lists(_NAMES, max_size=3))
    elif name.startswith("ssl_certificate"):
        args = [draw(_PATHS)]
    elif name == "include":
        args = [draw(_NGINX_INCLUDES)]
    elif name == "ssl":
        args = [draw(st.sampled_from(["on", "off", "ON"]))]
    else:
        args = draw(st.lists(_JUNK, max_size=2))
    return " ".join([name] + [_quoted(draw, a) for a in args]) + ";"


def _nginx_block(children):
    return st.builds(lambda name, body: "%s { %s }" % (name, "\n".join(body)),
                     st.sampled_from(["server", "http", "stream", "location /", "events", "if ($x)", ""]),
                     st.lists(children, max_size=6))


NGINX_TEXT = st.recursive(nginx_directive(), _nginx_block, max_leaves=25)


@st.composite
def nginx_tree(draw):
    files = {}
    for path in NGINX_FILES[:draw(st.integers(1, len(NGINX_FILES)))]:
        parts = draw(st.lists(st.one_of(NGINX_TEXT, st.just("# comment ; { }"), _JUNK), max_size=6))
        if draw(st.booleans()):  # random blocks rarely make a TLS server: make sure half the files have one
            server = "server { listen %s ssl; server_name %s; ssl_certificate %s; %s }" % (
                draw(_ADDRS), draw(_NAMES), _quoted(draw, draw(_PATHS)), draw(nginx_directive()))
            parts.insert(draw(st.integers(0, len(parts))), server)
        files[path] = _corrupt(draw(st.sampled_from(["\n", " ", "\r\n", "\t"])).join(parts), draw)
    return files


def _check_sites(sites, server_type):
    assert isinstance(sites, list)
    for site in sites:
        # a server loading several certificates gives a site each, marked with their group (_discover.GROUP); an
        # HAProxy site carries its bind's settings (_discover.HAPROXY_BIND) until its files are read
        assert set(site) - {_discover.GROUP, _discover.HAPROXY_BIND} == SITE_KEYS and site["server_type"] == server_type
        assert (_discover.HAPROXY_BIND in site) == (server_type == "haproxy"), site
        assert site["error"] is None or site["error"]["code"] in ("DYNAMIC_PATH", "NO_PROBE_NAME")
        if site["error"] and site["error"]["code"] == "NO_PROBE_NAME":  # no name reaches it: it is not probed
            assert site["endpoint"] is None, site
        for key in ("cert_file", "key_file", "chain_file"):  # what the server resolves at run time is not a file
            if server_type == "nginx":
                assert "$" not in (site[key] or ""), site
            elif server_type == "apache":
                assert not _confread._APACHE_VAR.search(site[key] or ""), site
        if site["cert_file"] is None:
            assert site["error"] is not None, site
        if site["endpoint"] is not None:
            assert isinstance(site["endpoint"]["port"], int) and 0 < site["endpoint"]["port"] < 65536


@settings(max_examples=examples(100, 8000))
@given(files=nginx_tree())
def test_nginx_from_files(files):
    _check_from_files(_discover.nginx_sites, "/etc/nginx/nginx.conf", files, "nginx")


@settings(max_examples=examples(50, 3000))
@given(files=nginx_tree(), junk=st.lists(_JUNK, max_size=3))
def test_nginx_dump(files, junk):
    """`nginx -T` output, split back into files, exactly as _collect does it."""
    dump = "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n" + "".join(
        "# configuration file %s:\n%s\n" % (path, text) for path, text in files.items()) + "".join(junk)
    split = value_or_certerror(_confread.split_nginx_dump, dump)
    if split and "/etc/nginx/nginx.conf" in split:
        sites = value_or_certerror(_discover.discover, "nginx", "/etc/nginx/nginx.conf", _confread.FileSource(split))
        if sites is not None:
            _check_sites(sites, "nginx")


def _check_from_files(parser, conf, files, kind):
    sites = value_or_certerror(parser, conf, _confread.FileSource(files))
    if sites is not None:
        _check_sites(sites, kind)


def _check_on_disk(files, kind, conf):
    """The same trees on the real filesystem (tmp dir): real globs, directories, unreadable names."""
    with tempfile.TemporaryDirectory(prefix="certops-fuzz-") as root:
        etc = _write_tree(root, files)
        sites = value_or_certerror(_discover.discover, kind, os.path.join(etc, conf))
        if sites is not None:
            _check_sites(sites, kind)


def _write_tree(root, files):
    for path, text in files.items():
        real = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(real), exist_ok=True)
        with open(real, "w", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write(text.replace("/etc/", root + "/etc/"))
    return os.path.join(root, "etc")


@settings(max_examples=examples(30, 1500))
@given(files=nginx_tree())
def test_nginx_on_disk(files):
    _check_on_disk(files, "nginx", "nginx/nginx.conf")


# Apache ---------------------------------------------------------------

APACHE_FILES = ["/etc/apache2/apache2.conf", "/etc/apache2/sites/a.conf", "/etc/apache2/sites/b.conf",
                "/etc/apache2/mods/ssl.conf"]


@st.composite
def apache_line(draw):
    kind = draw(st.sampled_from(["define", "root", "include", "listen", "vhost", "end", "ifmodule", "endif", "name",
                                 "alias", "engine", "cert", "key", "chain", "comment", "junk"]))
    sep = draw(st.sampled_from([" ", "\t", "  ", " \\\n  "]))
    if kind == "define":
        return "Define%s%s%s%s" % (sep, draw(st.sampled_from(["CERTS", "X", "", "${CERTS}"])), sep, draw(_PATHS))
    if kind == "root":
        return "ServerRoot%s%s" % (sep, _quoted(draw, draw(st.sampled_from(["/etc/apache2", "", "rel", "${X}"]))))
    if kind == "include":
        word = draw(st.sampled_from(["Include", "IncludeOptional", "include"]))
        target = draw(st.sampled_from(["sites/*.conf", "/etc/apache2/apache2.conf", "mods/", "*", "/etc/apache2/*/*",
                                       "sites/a.conf", "missing/*.conf", "${CERTS}/x", "["]))
        return "%s%s%s" % (word, sep, _quoted(draw, target))
    if kind == "listen":
        return "Listen%s%s" % (sep, draw(_ADDRS))
    if kind == "vhost":
        return "<VirtualHost%s%s>" % (sep, " ".join(draw(st.lists(_ADDRS, max_size=3))))
    if kind == "end":
        return draw(st.sampled_from(["</VirtualHost>", "</virtualhost>", "</", "</VirtualHost"]))
    if kind == "ifmodule":
        return "<IfModule ssl_module>"
    if kind == "endif":
        return "</IfModule>"
    if kind in ("name", "alias"):
        return "%s%s%s" % ("ServerName" if kind == "name" else "ServerAlias", sep,
                           " ".join(draw(st.lists(_NAMES, max_size=3))))
    if kind == "engine":
        return "SSLEngine%s%s" % (sep, draw(st.sampled_from(["on", "On", "off", "optional", ""])))
    if kind in ("cert", "key", "chain"):
        directive = {"cert": "SSLCertificateFile", "key": "SSLCertificateKeyFile", "chain": "SSLCertificateChainFile"}
        return "%s%s%s" % (directive[kind], sep, _quoted(draw, draw(_PATHS)))
    if kind == "comment":
        return "# <VirtualHost *:1> SSLEngine on"
    return draw(_JUNK)


@st.composite
def apache_tree(draw):
    files = {}
    for path in APACHE_FILES[:draw(st.integers(1, len(APACHE_FILES)))]:
        lines = draw(st.lists(apache_line(), max_size=25))
        files[path] = _corrupt(draw(st.sampled_from(["\n", "\r\n"])).join(lines), draw)
    return files


@settings(max_examples=examples(100, 8000))
@given(files=apache_tree())
def test_apache_from_files(files):
    _check_from_files(_discover.apache_sites, "/etc/apache2/apache2.conf", files, "apache")


@settings(max_examples=examples(30, 1500))
@given(files=apache_tree())
def test_apache_on_disk(files):
    _check_on_disk(files, "apache", "apache2/apache2.conf")


_APACHE_CHARS = st.text(alphabet=st.sampled_from(list("ab<>#{}\\\"' \t\r\n\x0b\xa0$")), max_size=40)


@settings(max_examples=examples(300, 20000))
@given(text=st.one_of(_APACHE_CHARS, st.text(max_size=40)))
def test_apache_lines_and_words(text):
    """Apache's line and word reading never raises; plain words (no quote, no backslash) are what splitting at
    ASCII whitespace gives, and a directive and its rest read as the same words as the whole line."""
    for number, line in _confread.apache_lines(text):
        assert number >= 1 and line and line == line.strip(" \t\n\v\f\r") and not line.startswith("#")
        words = _confread.apache_words(line)
        if not any(c in line for c in "\"'\\"):
            assert words == [w for w in re.split("[ \t\n\v\f\r]+", line) if w]
        name, rest = _confread.apache_directive(line)
        assert [name] + _confread.apache_words(rest) == words
    assert _confread.apache_directive("") == ("", "") and _confread.apache_words("") == []


# HAProxy ---------------------------------------------------------------

HAPROXY_FILES = ["/etc/haproxy/haproxy.cfg", "/etc/haproxy/list.txt", "/etc/haproxy/certs/a.pem",
                 "/etc/haproxy/certs/a.pem.key", "/etc/haproxy/certs/b.pem"]
_HAPROXY_PATHS = st.one_of(_PATHS, st.sampled_from(["certs/a.pem", "certs", "/etc/haproxy/certs/", "list.txt",
                                                    '"${CERTS}/a.pem"', '"$NOPE/a.pem"', "'$CERTS/a.pem'",
                                                    "a\\ b.pem", '"unterminated', "a#b.pem", '"${X[,]}"']))


@st.composite
def haproxy_line(draw):
    kind = draw(st.sampled_from(["section", "setenv", "crt-base", "key-base", "bind", "bind", "bind", "comment",
                                 "junk"]))
    if kind == "section":
        return draw(st.sampled_from(["global", "defaults", "frontend f", "listen l", "backend b"]))
    if kind == "setenv":
        return "    %s CERTS %s" % (draw(st.sampled_from(["setenv", "presetenv"])), draw(_HAPROXY_PATHS))
    if kind in ("crt-base", "key-base"):
        return "    %s %s" % (kind, draw(_HAPROXY_PATHS))
    if kind == "bind":
        words = ["bind", ",".join(draw(st.lists(_ADDRS, min_size=1, max_size=2)))]
        words += ["ssl"] if draw(st.booleans()) else []
        for _index in range(draw(st.integers(0, 3))):
            option = draw(st.sampled_from(["crt", "crt-list", "ssl", "alpn", "verify", "#"]))
            words.append(option)
            if option == "crt":
                words.append(draw(_HAPROXY_PATHS))
            elif option == "crt-list":
                words.append(draw(st.one_of(st.sampled_from(["list.txt", "/etc/haproxy/list.txt"]), _HAPROXY_PATHS)))
        return "    " + " ".join(words)
    if kind == "comment":
        return "# bind :443 ssl crt x.pem"
    return draw(_JUNK)


@st.composite
def haproxy_tree(draw):
    lines = draw(st.lists(haproxy_line(), max_size=20))
    if draw(st.booleans()):  # most random lines never reach the crt-list: make sure half the configs do
        lines.insert(draw(st.integers(0, len(lines))), "    bind %s ssl crt-list %s" % (
            draw(_ADDRS), _quoted(draw, draw(st.sampled_from(["list.txt", "/etc/haproxy/list.txt"])))))
    crt_list = draw(st.lists(st.one_of(
        st.builds(lambda p, o, n: "%s %s %s" % (p, o, " ".join(n)), st.one_of(st.just(""), _HAPROXY_PATHS),
                  st.sampled_from(["", "[alpn h2]", "[", "]", "[ssl-min-ver TLSv1.2]"]), st.lists(_NAMES, max_size=2)),
        st.sampled_from(["[alpn h2]", "[ssl-min-ver TLSv1.2] a.test", "# c", "!x.test"]), _JUNK), max_size=6))
    files = {"/etc/haproxy/haproxy.cfg": _corrupt("\n".join(lines), draw),
             "/etc/haproxy/list.txt": "\n".join(crt_list)}
    files.update({p: "x" for p in HAPROXY_FILES[2:]})
    return files


@settings(max_examples=examples(100, 8000))
@given(files=haproxy_tree())
def test_haproxy_from_files(files):
    _check_from_files(_discover.haproxy_sites, "/etc/haproxy/haproxy.cfg", files, "haproxy")


@settings(max_examples=examples(60, 3000))
@given(files=haproxy_tree())
@example(files={"/etc/haproxy/haproxy.cfg": "frontend f\n bind :443 ssl crt-list /etc/haproxy/list.txt",
                "/etc/haproxy/list.txt": "[alpn h2]\n"})
def test_haproxy_on_disk(files):
    _check_on_disk(files, "haproxy", "haproxy/haproxy.cfg")


# Text that is an address, almost one, or a name: digits, dots, colons, hex letters, a zone, brackets, blanks.
ADDRESS_LIKE = st.one_of(
    st.text(alphabet="0123456789.:abcdefABCDEF%[] \t\n/x", max_size=45),
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda address: "%s%%eth0" % address),
    st.text(max_size=20))


@settings(max_examples=examples(2000, 100000))
@given(text=ADDRESS_LIKE)
@example(text="1.2.3.4")
@example(text="01.2.3.4")
@example(text="::ffff:1.2.3.4")
@example(text="fe80::1%eth0")
@example(text="1.2.3.4 ")
@example(text="\u0661.\u0662.\u0663.\u0664")  # Arabic-Indic digits: str.isdigit() says yes, ipaddress says no
@example(text="")
def test_ip_address_agrees_with_ipaddress(text):
    """_base.ip_address tells names from addresses without asking ipaddress when it cannot be one: the same answer."""
    try:
        expected = ipaddress.ip_address(text)
    except ValueError:
        expected = None
    assert _base.ip_address(text) == expected


_HA_COND_ALPHABET = st.sampled_from(["0", "1", "!", "(", ")", "&&", "||", " ", ",", "defined(", "streq(", "strneq(",
                                     "feature(OPENSSL)", "A", "B", "SET", '"', "$SET", "x"])


@settings(max_examples=examples(300, 30000))
@given(parts=st.lists(_HA_COND_ALPHABET, max_size=14), lines=st.lists(st.sampled_from(
    [".if 0", ".if 1", ".if SET", ".elif 0", ".elif 1", ".else", ".endif", "server s 127.0.0.1:1"]), max_size=12))
def test_haproxy_conditions_never_raise(parts, lines):
    """Any `.if` condition is True, False or None (undecided, read) and never raises; any sequence of the block
    directives (unbalanced too) leaves a line read or skipped."""
    env = {"SET": "1"}
    value = _confread.ha_condition(_confread._haproxy_words(".if " + "".join(parts), env)[1:], env)
    assert value in (True, False, None)
    conditions = _confread.HAConditions(env)
    for line in lines:
        assert conditions.skip(_confread._haproxy_words(line, env)) in (True, False)


_RX_ALPHABET = st.sampled_from(["^", "$", "(", ")", "(?<t>", "(?P<t>", "(?'t'", "(?:", "(?=", "[", "]", "[^", "-", "|",
                                "*", "+", "?", "{2}", "{0,}", "{3,5}", ".", "\\.", "\\d", "\\w", "\\s", "\\", "a", "z",
                                "0", "test", "(a+)+", "{99999}"])


@settings(max_examples=examples(300, 30000))
@given(parts=st.lists(_RX_ALPHABET, max_size=16))
def test_regex_example_is_a_name_the_expression_matches_or_none(parts):
    """Any nginx server_name expression: regex_example gives None or a host name Python's re finds the expression
    in, never raises, never hangs."""
    pattern = "".join(parts)
    with time_limit(HANG_SECONDS):
        name = _discover.regex_example(pattern)
    if name is not None:
        assert re.fullmatch(r"[a-z0-9.-]+", name) and len(name) <= 253
        assert re.search(_discover._pcre_to_python(pattern), name, re.IGNORECASE)


_AP_LABELS = st.sampled_from(["a", "b", "x", "w1", "test", "b-c", "*", "?", "a*", "[ab]"])


@settings(max_examples=examples(300, 30000))
@given(patterns=st.lists(st.lists(_AP_LABELS, min_size=1, max_size=4).map(".".join), max_size=5),
       name=st.lists(st.sampled_from(["a", "b", "x", "w1", "test", "b-c"]), min_size=1, max_size=5).map(".".join))
def test_apache_name_index_takes_what_fnmatch_takes(patterns, name):
    """_ap_taken's index (exact names, leading `*.` wildcards by suffix, other wildcards by fnmatch) takes a name
    exactly when an earlier VirtualHost's name is it or matches it by fnmatch, as mod_ssl's lookup does."""
    import fnmatch

    vhosts = [{"addresses": ["*:1"], "names": [pattern], "servername": pattern} for pattern in patterns]
    mine = {"addresses": ["*:1"], "names": ["me.test"], "servername": "me.test"}
    socket_names = _discover._ap_socket_names({("*", "1"): vhosts + [mine]}, [])[("*", "1")]
    expected = any(p == name or (any(c in p for c in "*?") and fnmatch.fnmatchcase(name, p)) for p in patterns)
    assert _discover._ap_taken(socket_names, mine, name) == expected, (patterns, name)


@settings(max_examples=examples(300, 30000))
@given(version=st.sampled_from([0x0301, 0x0303, 0x0304]), message=st.binary(max_size=300),
       cut=st.integers(0, 300))
def test_the_ca_names_of_any_certificate_request_are_a_list_or_none(version, message, cut):
    """_probe.ca_names reads what a server sent in its CertificateRequest, before anything checked it: any bytes give
    a list of names (bytes) or None, never an exception, and a message cut short gives None or what it held."""
    from ansible_collections.certops.backend_tls.plugins.module_utils import _probe

    for data in (message, bytes([13]) + len(message).to_bytes(3, "big") + message[:cut]):
        names = _probe.ca_names((version, data))
        assert names is None or all(isinstance(n, bytes) for n in names)
