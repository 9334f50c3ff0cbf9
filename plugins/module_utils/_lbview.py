# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The load balancer's view of its TLS backends: its configuration read (pure parsers), then probed (lb_view).

For HAProxy (`backend`/`listen` `server` and `server-template` lines), nginx (`proxy_pass` to literal
addresses or `upstream` groups) and Apache (`ProxyPass`, `<Proxy balancer://>` `BalancerMember`) each
parser returns one dict per backend the load balancer connects to (`backend_item` lists the keys): where it
is configured, and how the load balancer connects to it and judges it -- TLS or not, whether the chain is
verified and why (`verify_origin`), the SNI sent, the name checked (`verify_name`, None: no name check),
trust anchors, revocation lists (`crl_*`), client certificate, protocol range and ciphers. A keyword that is
absent gets the load balancer's own default, as docs/design/lb-view.md records them (section numbers in the
comments of each parser).

Each load balancer type's parser is a module of its own (_lbview_haproxy, _lbview_nginx, _lbview_apache), imported
only when a run reads that type (_parser): AnsiballZ ships the collection's code as source, so a module run compiles
what it imports each time. This module holds what they share (backend_item and the helpers above the entry point),
the dispatch (lb_backends), and the view itself: trust anchors, CRLs, the probes and the result (lb_view).

Files are read through _confread.FileSource (the filesystem, or the files of an `nginx -T` dump); the
HAProxy words and the Apache arguments are split by _confread's readers (quotes, escapes, comments,
environment variables, Define), and nginx's directives (with their lines) by _confread.nginx_tree. A line that
cannot be understood is an item with `error` {code: INVALID_CONFIG}; an address or name known only at run time is
reported as dynamic, never guessed. Parsers raise only CertError (an unreadable main file, an include cycle).
"""

from __future__ import annotations

import os
import re
import ssl

from ansible_collections.certops.backend_tls.plugins.module_utils import (
    _base,
    _certs,
    _collector,
    _confread,
    _material,
    _probe,
)
from ansible_collections.certops.backend_tls.plugins.module_utils._base import CertError, port_number

LB_TYPES = ("haproxy", "nginx", "apache")
MAX_TEMPLATE_SERVERS = 4096  # one server-template line expands to at most this many servers
MAX_COUNT_DIGITS = 9  # a server-template number or verify depth the servers read as an int; longer is none
PROTOCOLS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")  # normalised names, as ssl.SSLSocket.version() says them

ITEM_KEYS = ("lb_type", "config_file", "line", "pool", "server", "source", "location", "address", "port", "tls",
             "verify", "verify_origin", "sni", "check_sni", "verify_name", "name_rule", "check_expiry", "ca_file",
             "ca_path", "crl_file", "crl_path", "crl_check", "crl_missing_ok", "verify_depth", "client_cert",
             "client_key", "client_key_passwords", "min_version", "max_version", "ciphers", "ciphersuites",
             "health_check", "disabled", "backup", "proxy_protocol", "error")
CRL_CHECKS = ("none", "leaf", "chain")  # what a load balancer checks against its CRLs (cert_chain_verify's crl_check)
MAX_CRL_BYTES = 16 * 1024 * 1024  # a CRL file read; a large CA's CRL runs to megabytes, certificates never do


def backend_item(**fields):
    """One backend with every key of ITEM_KEYS (None unless given; no CRL check unless given)."""
    unknown = set(fields) - set(ITEM_KEYS)
    if unknown:
        raise ValueError("unknown backend keys %s" % sorted(unknown))
    item = dict.fromkeys(ITEM_KEYS)
    item.update(crl_check="none", crl_missing_ok=False, disabled=False, backup=False)
    item.update(fields)
    return item


def _config_error(message):
    return {"code": "INVALID_CONFIG", "message": message}


def _dynamic(expr):
    return {"dynamic": expr}


def _split_hostport(text, default_port):
    """'host:port', '[v6]:port', 'host' -> (host, port or default_port, problem)."""
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            return None, None, "cannot read the address %r" % text
        port = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, _sep, port = text.partition(":")
    elif text.count(":") > 1:  # IPv6 without brackets (HAProxy): the last colon starts the port
        host, _sep, port = text.rpartition(":")
        if not _base.is_ip(host):
            host, port = text, None
    else:
        host, port = text, None
    if port is None or port == "":
        return host, default_port, None if default_port else "no port in %r" % text
    number = port_number(port)  # None also for a run of digits int() would refuse (over 4300)
    if number is None:
        return host, None, "the port of %r is not a port number" % text
    return host, number, None


def _count_ok(text):
    return text.isascii() and text.isdigit() and len(text.lstrip("0")) <= MAX_COUNT_DIGITS


def _count(text):
    """int() of a text _count_ok accepted (leading zeros, however many, are not digits int() has to read)."""
    return int(text.lstrip("0") or "0")


def _depth(text):
    """A configured verify depth, or None when it is not a plain (ASCII) number the server reads as an int (at
    most MAX_COUNT_DIGITS significant digits; int() refuses more than 4300)."""
    text = text or ""
    return _count(text) if _count_ok(text) else None


def lb_backends(lb_type, config, source=None, version=None):
    """The backends of one load balancer from its main configuration file (filesystem unless `source`); version:
    the nginx version, when known."""
    source = source or _confread.FileSource()
    if lb_type == "haproxy":
        return _parser("haproxy").haproxy_backends(config, source)
    if lb_type == "nginx":
        return _parser("nginx").nginx_backends(config, source, version=version)
    if lb_type == "apache":
        return _parser("apache").apache_backends(config, source)
    raise CertError("INVALID_ARGUMENT", "unknown load balancer type %r" % lb_type)


def _parser(lb_type):
    """The module that reads lb_type's configuration (_lbview_<type>), imported only when a run reads that type: a
    run compiles the collection's source each time (twice, from AnsiballZ's zip), so a HAProxy host does not pay
    for the nginx and Apache parsers."""
    if lb_type == "haproxy":
        from ansible_collections.certops.backend_tls.plugins.module_utils import _lbview_haproxy as parser
    elif lb_type == "nginx":
        from ansible_collections.certops.backend_tls.plugins.module_utils import _lbview_nginx as parser
    else:
        from ansible_collections.certops.backend_tls.plugins.module_utils import _lbview_apache as parser
    return parser


def installed(lb_type):
    """Whether the usual main configuration file of lb_type exists on this host (lb_type: auto)."""
    return any(os.path.exists(p) for p in _confread.DEFAULT_CONFIGS[lb_type])


# ---------------------------------------------------------------- the whole view (what lb_backend_info returns)

def parse_lb_types(lb_types, config):
    """lb_type (names or 'auto') and config ({type: path}) -> [(type, main config path)]; CertError
    INVALID_ARGUMENT for an unknown type or config key."""
    config = dict(config or {})
    unknown = sorted(str(k) for k in config if k not in LB_TYPES)
    if unknown:
        raise CertError("INVALID_ARGUMENT", "config: unknown load balancer type %s (allowed: %s)"
                        % (", ".join(unknown), ", ".join(LB_TYPES)))
    for key, value in config.items():
        if not isinstance(value, str) or not value.strip() or "\x00" in value:
            raise CertError("INVALID_ARGUMENT", "config.%s must be the path of the main configuration file" % key)
    wanted = []
    for name in lb_types or ["auto"]:
        if name == "auto":
            wanted.extend(t for t in LB_TYPES if t in config or installed(t))
        elif name in LB_TYPES:
            wanted.append(name)
        else:
            raise CertError("INVALID_ARGUMENT", "lb_type %r: expected auto, %s" % (name, ", ".join(LB_TYPES)))
    seen = []
    for name in wanted:
        if name not in seen:
            seen.append(name)
    return [(name, os.path.expanduser(config.get(name) or _confread.default_config(name))) for name in seen]


def _read_config(lb_type, path, run_command, version=None):
    source = None
    if lb_type == "nginx" and run_command is not None:
        source = _confread.dump_source(run_command(lb_type, path), path)
    return lb_backends(lb_type, path, source, version=version)


_HA_CA_SUFFIXES = (".pem", ".crt", ".cer")  # HAProxy's ca-file directory: these names only (ssl_ckch.c)


def _list_directory(path):
    """The names in a directory; CertError NOT_FOUND / PERMISSION_DENIED when it cannot be listed."""
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        raise CertError("PERMISSION_DENIED" if isinstance(exc, PermissionError) else "NOT_FOUND",
                        "cannot list %s: %s" % (path, exc.strerror))


def _hashed_files(names, suffix):
    """OpenSSL's hashed directory lookup (X509_LOOKUP_hash_dir) over a directory's names: for each name hash present,
    [(hash, file name)] of <hash>.<suffix>0, <hash>.<suffix>1, ... in the order it opens them, up to the first
    missing number (suffix '' for certificates, 'r' for CRLs: the names c_rehash and `openssl rehash` give). Any other
    name (ca.pem, crl.pem) or a number after a gap is never opened."""
    names = set(names)
    pattern = re.compile(r"^([0-9a-f]{8})\.%s([0-9]+)$" % suffix)
    out = []
    for prefix in sorted({m.group(1) for m in map(pattern.match, names) if m}):
        index = 0
        while "%s.%s%d" % (prefix, suffix, index) in names:
            out.append((prefix, "%s.%s%d" % (prefix, suffix, index)))
            index += 1
    return out


def _hashed_directory(path, suffix, not_a_directory):
    """[(hash, file path)] OpenSSL's hashed lookup opens in the directory path (_hashed_files); CertError when path
    is no directory (not_a_directory: the code for one that is something else, which Apache refuses) or cannot be
    listed."""
    if not os.path.isdir(path):
        if os.path.exists(path):
            raise CertError(not_a_directory, "not a directory (Apache refuses this configuration)")
        raise CertError("NOT_FOUND", "no such directory")
    return [(prefix, os.path.join(path, name)) for prefix, name in _hashed_files(_list_directory(path), suffix)]


def _anchor_files(path, rule):
    """[(file, hash or None)] a CA setting names: the file itself, or the system store for @system-ca; for a
    directory, the files its load balancer reads there: rule 'haproxy' (ca-file <dir>, ssl_ckch.c: the names ending
    .pem, .crt or .cer exactly, none starting with a dot, in alphabetical order) or 'hashed' (Apache's
    SSLProxyCACertificatePath, OpenSSL's hashed lookup: <subject name hash>.0, .1, ... with that hash)."""
    if path == "@system-ca":
        defaults = ssl.get_default_verify_paths()
        return [(defaults.cafile or defaults.openssl_cafile, None)]
    if rule == "hashed":
        return [(name, prefix) for prefix, name in _hashed_directory(path, "", "NOT_A_CERTIFICATE")]
    if os.path.isdir(path):
        names = _list_directory(path)
        if rule == "haproxy":
            return [(os.path.join(path, n), None) for n in names if n.endswith(_HA_CA_SUFFIXES) and
                    not n.startswith(".")]
        return [(os.path.join(path, n), None) for n in names if os.path.isfile(os.path.join(path, n))
                and not n.endswith((".crl", ".r0", ".key"))]
    return [(path, None)]


def _anchor_ders(name, prefix, rule, directory):
    """(the certificates a load balancer takes from one file of its CA setting, how many it read there that trust
    settings keep from being an anchor), CertError when it takes none: every one of a CA file; from HAProxy's
    directory the first one of each file (one PEM_read_bio_X509_AUX); from a hashed directory those whose subject
    has the file's hash, of a PEM file (OpenSSL's X509_FILETYPE_PEM lookup). OpenSSL reads a "TRUSTED CERTIFICATE"
    with its trust settings, and verifying a TLS server it takes none whose settings refuse serverAuth or trust
    other uses only (X509_V_ERR_INVALID_PURPOSE, error 26)."""
    data = _base.read_file(name)
    if not directory and rule != "system":
        # HAProxy's ca-file, nginx's proxy_ssl_trusted_certificate and Apache's SSLProxyCACertificateFile are read
        # by OpenSSL's X509_load_cert_crl_file, as this host's OpenSSL reads one here (Python's ssl calls it too):
        # what it refuses, the load balancer does not start with, and a certificate it skips is no anchor.
        refusal = _openssl_ca_file(name)
        if refusal is not None:
            raise CertError(refusal.code, "%s: the load balancer cannot load it" % (
                _ca_file_problem(data) or refusal.message))
        # OpenSSL knows a BEGIN line only at the start of a line: a block begun elsewhere (indented, beside others)
        # is none it loads, and no anchor
        data = _base.line_start_pem(data)
    try:
        material = _certs.parse_material(data)
    except CertError:
        if not directory and rule != "system":  # OpenSSL loaded it: CRLs alone, or blocks of no kind read here
            raise CertError("NOT_A_CERTIFICATE", "it holds no certificate")
        raise
    refused = set(der for der, trust in _material.trusted_blocks(data) if trust is False)
    ders = material["ders"]
    if directory:
        if material["format"] != "pem" or not ders:
            raise CertError("NOT_A_CERTIFICATE", "no PEM certificate")
        ders = ders[:1] if rule == "haproxy" else [der for der in ders if _subject_hash(der) == prefix]
    kept = [der for der in ders if der not in refused]
    return kept, len(ders) - len(kept)


def _openssl_ca_file(name):
    """None when this host's OpenSSL loads a CA file (X509_load_cert_crl_file, as the load balancers load theirs:
    SSL_CTX_load_verify_locations), else CertError NOT_A_CERTIFICATE with its reason."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.load_verify_locations(cafile=name)
    except ssl.SSLError as exc:
        return CertError("NOT_A_CERTIFICATE", "OpenSSL refuses it (%s)" % (
            exc.reason.lower().replace("_", " ") if exc.reason else "a PEM block that does not decode, an END line "
            "that does not match its BEGIN line or has text after it, or a block without its END line"))
    except OSError as exc:  # it changed since it was read
        return CertError("NOT_A_CERTIFICATE", "OpenSSL cannot read it (%s)" % exc.strerror)
    return None


def _ca_file_problem(data):
    """Why OpenSSL refuses a CA file, in the terms of its content, when it is one of the usual reasons (else None):
    no PEM in it (DER, PKCS#12), no certificate block, a certificate block that is no base64, a last block without
    its END line."""
    if not data.strip():
        return "the file is empty"
    try:
        material = _certs.parse_material(data)
    except CertError:
        material = {"format": "pem" if b"-----BEGIN " in data else "unknown", "problems": []}
    broken = [p for p in material["problems"] if p.endswith("is not valid base64")]
    # (the lines as OpenSSL reads them, byte order marks skipped: line_start_pem; a marker line may end in spaces,
    # and one followed by more text is no marker)
    marks = re.findall(rb"(?m)^-----(BEGIN|END) ([A-Z0-9 #]+)-----[ \t]*\r?$", _base.line_start_pem(data))
    if not marks:
        return "no PEM block starts a line" if material["format"] == "pem" else "%s, not PEM" % (
            "DER" if material["format"] == "der" else material["format"].upper())
    if not [label for mark, label in marks if mark == b"BEGIN" and label in _material.CERT_LABELS]:
        return "no PEM certificate block (%s)" % ", ".join(sorted(set(label.decode() for _mark, label in marks)))
    if marks[-1][0] == b"BEGIN":
        broken.append("its last PEM block has no END line (truncated file?)")
    return "; ".join(broken) or None


def _subject_hash(der):
    """OpenSSL's hash of the certificate's subject (the <hash> of a hashed directory's <hash>.N), None when the
    certificate cannot be read."""
    try:
        return _hash_of(_certs.load_certificate(der).subject)
    except CertError:
        return None


def _anchors(collector, path, rule=None):
    """(sha256 fingerprints of every certificate the CA file or directory holds for its load balancer, error or
    None); rule: how a directory is read (_anchor_files)."""
    fingerprints, problems, refused = [], [], 0
    try:
        files = _anchor_files(path, rule)
    except CertError as exc:
        return None, {"code": exc.code, "message": "CA %s: %s" % (path, exc.message)}
    directory = rule == "hashed" or (path != "@system-ca" and os.path.isdir(path))
    stopped = set()  # hashes whose walk ended at a file OpenSSL could not load
    for name, prefix in files:
        if prefix in stopped:
            continue
        try:
            ders, untrusted = _anchor_ders(name, prefix, "system" if path == "@system-ca" else rule, directory)
            refused += untrusted
        except CertError as exc:
            if not directory:
                return None, {"code": exc.code, "message": "CA file %s: %s" % (name, exc.message)}
            problems.append(name)
            if prefix is not None:  # OpenSSL's hashed lookup stops at a file it cannot load (<hash>.1 unread)
                stopped.add(prefix)
            continue
        for der in ders:
            try:
                fingerprint = collector.add_der(der)[0]
            except CertError:
                continue
            if fingerprint not in fingerprints:
                fingerprints.append(fingerprint)
    if not fingerprints:
        if refused:
            return [], {"code": "NOT_A_CERTIFICATE", "message": "CA %s holds no certificate OpenSSL trusts for a TLS "
                        "server: the trust settings of its TRUSTED CERTIFICATE blocks refuse serverAuth, or trust "
                        "other uses only" % path}
        if rule == "hashed":
            return [], {"code": "NOT_A_CERTIFICATE", "message": "CA %s: no certificate under its subject's hashed "
                        "name (<hash>.0, as c_rehash or `openssl rehash` names them): OpenSSL finds none there" % path}
        if directory and rule == "haproxy":
            return [], {"code": "NOT_A_CERTIFICATE", "message": "CA %s holds no certificate HAProxy loads (it reads "
                        "only the first certificate of each *.pem, *.crt and *.cer file there)" % path}
        return [], {"code": "NOT_A_CERTIFICATE", "message": "CA %s holds no certificate" % path}
    return fingerprints, None


def _crl_error(path, code, message):
    return {"code": code, "message": "CRL file %s: %s" % (path, message)}


def _crl_file(path):
    """[(der, crl)] of one CRL file, or a CRL file error. The load balancers read CRL files as PEM only (OpenSSL's
    X509_FILETYPE_PEM lookups: HAProxy 2.6, nginx and Apache refuse a DER CRL file, measured), and no CRL from a
    directory named as a file (nginx and Apache refuse it; HAProxy loads only its certificates). A file of
    certificates and no CRL is ([], its error): the load balancers load it (X509_load_cert_crl_file counts its
    certificates) and find no CRL there, which is an error only where no other CRL is found (lb_view's loop)."""
    try:
        data = _base.read_file(path, max_bytes=MAX_CRL_BYTES)
        crls = _certs.load_crls(data)
    except CertError as exc:
        error = _crl_error(path, "NOT_A_CRL" if exc.code == "NOT_A_CERTIFICATE" else exc.code, exc.message)
        return ([] if exc.code == "NOT_A_CRL" and _certificates_only(data) else None), error
    if b"-----BEGIN" not in data:  # load_crls took it as one DER CRL
        return None, _crl_error(path, "NOT_A_CRL", "a DER CRL: the load balancer reads PEM CRL files only")
    return crls, None


def _certificates_only(data):
    """Whether a CRL file OpenSSL's PEM reader loads holds certificates and no CRL block (load_crls found none)."""
    blocks, unterminated = _base.pem_blocks(_base.line_start_pem(data))
    labels = {label for label, _body in blocks}
    return not unterminated and b"X509 CRL" not in labels and bool(labels & set(_material.CERT_LABELS))


def _ca_file_crls(path):
    """([(der, crl)] of the CRLs a CA file holds beside its certificates, None): none from the system store, a
    directory, or a file that holds none or cannot be read (its certificates' reading says what is wrong with it)."""
    if path == "@system-ca" or os.path.isdir(path):
        return [], None
    try:
        data = _base.read_file(path, max_bytes=MAX_CRL_BYTES)
        return (_certs.load_crls(data) if b"-----BEGIN X509 CRL-----" in data else []), None
    except CertError:
        return [], None


def _crl_setting_anchors(collector, key, path):
    """Sha256 fingerprints of the certificates a CRL setting (key crl_file or crl_path) gives the load balancer's
    store: a CRL file's, read as a CA file is, and only when it holds a certificate block (a CRL file is most often
    CRLs alone, and may run to megabytes); a CRL directory's <hash>.N files. Its problems are the CRL setting's,
    reported as such: here they mean no certificate."""
    if key == "crl_file":
        try:
            data = _base.read_file(path, max_bytes=MAX_CRL_BYTES)
        except CertError:
            return []
        if not any(b"-----BEGIN %s-----" % label in data for label in _material.CERT_LABELS):
            return []
    found, _error = _anchors(collector, path, "hashed" if key == "crl_path" else None)
    return found or []


def _ca_directory_crls(path):
    """([(der, crl)] of the CRLs OpenSSL's hashed lookup finds in a CA directory (<hash>.r0 beside <hash>.0), None):
    none is no error there, and the directory's own problems are its certificates' (_anchors says them)."""
    found, _error = _crl_directory(path)
    return found or [], None


def _crl_directory(path):
    """[(der, crl)] of the CRLs OpenSSL finds in a hashed directory (Apache's SSLProxyCARevocationPath), or an
    error. OpenSSL's directory lookup opens only <issuer name hash>.r0, .r1, ... in turn (c_rehash's names), stops
    at the first it cannot load (by_dir.c: a file with no CRL, a DER one), and takes from them only CRLs of that
    issuer: other names (crl.pem), a number after a gap or after a file it could not load, or a CRL filed under
    another issuer's hash are never read."""
    try:
        files = _hashed_directory(path, "r", "NOT_A_CRL")
    except CertError as exc:
        return None, _crl_error(path, exc.code, exc.message)
    found, stopped = [], set()
    for prefix, name in files:
        if prefix in stopped:
            continue
        crls, error = _crl_file(name)
        if error:
            stopped.add(prefix)
        found.extend((der, crl) for der, crl in crls or [] if _hash_of(crl.issuer) == prefix)
    if not found:  # Apache starts with it (its lookups find nothing at each handshake): see _crl_file
        return [], _crl_error(path, "NOT_A_CRL", "no certificate revocation list under its issuer's hashed name "
                              "(<hash>.r0, as c_rehash or `openssl rehash` names them): OpenSSL finds none there")
    return found, None


def _hash_of(name):
    try:
        return _certs.name_hash(name)
    except ValueError:
        return None


def crl_pem(der):
    """A CRL's DER as PEM (label X509 CRL, 64 columns), as OpenSSL writes one."""
    return _certs.der_to_pem(der, "X509 CRL")


def _client_fingerprint(collector, path):
    """The fingerprint of the first certificate of a client certificate file (public data only), or None."""
    try:
        ders = _certs.parse_material(_base.read_file(path))["ders"]
        return collector.add_der(ders[0])[0] if ders else None
    except CertError:
        return None


def _tls_health_check(item):
    """HAProxy's health check of this backend when it runs over TLS ({sni, verify_name, ...}), else None: the
    backend's DOWN state and its alert come from those checks, so they are what is probed and judged."""
    check = item.get("health_check") or {}
    return check if item["lb_type"] == "haproxy" and check.get("enabled") and check.get("tls") else None


def probe_target(item):
    """The endpoint to probe for a backend as the load balancer connects to it, or None (no TLS, no address).

    The SNI is the one the load balancer sends. HAProxy with health checks over TLS is probed as its checks
    connect (check-sni, or none; the PROXY protocol header if they send one): its DOWN state and its alert come
    from them, and verify_options judges it on their name. A request-dependent SNI is probed as the checks send it,
    or without SNI. The client certificate and the protocol and cipher settings are the load balancer's (None: its
    library's defaults)."""
    if not item["tls"] or not item["address"] or not item["port"]:
        return None
    check = _tls_health_check(item)
    sni = check.get("sni") if check else item["sni"]
    if isinstance(sni, dict):
        sni = item["check_sni"] if isinstance(item["check_sni"], str) else None
    target = {"host": item["address"], "port": item["port"], "server_name": sni or None,
              "lb_settings": {"min_version": item["min_version"], "max_version": item["max_version"],
                              "ciphers": item["ciphers"], "ciphersuites": item["ciphersuites"]}}
    if item["client_cert"]:
        target.update(client_cert=item["client_cert"], client_key=item["client_key"],
                      client_key_passwords=item["client_key_passwords"])
        if item["lb_type"] == "apache":  # mod_ssl presents the one whose issuer the server names, or none
            target["client_cert_choice"] = "issuer"
    proxy_protocol = check.get("proxy_protocol") if check else item.get("proxy_protocol")
    if proxy_protocol:
        target["proxy_protocol"] = proxy_protocol
    return target


def _target_key(target):
    settings = target["lb_settings"]
    return (target["host"], target["port"], target["server_name"]) + _probe.identity_of(target) + (
        settings["min_version"], settings["max_version"], settings["ciphers"], settings["ciphersuites"],
        target.get("proxy_protocol"), target.get("client_cert_choice"))


def verify_options(item):
    """cert_chain_verify's item options that judge this backend's served chain as its load balancer does: the
    names it checks, its name rule, its depth in OpenSSL's count, whether it verifies the chain and the leaf's
    dates, what it checks against its CRLs (nothing when it does not verify: no verdict, no revocation check). None
    for a backend reached without TLS.

    HAProxy is judged on what its health checks verify when they run over TLS (its DOWN state and its alert
    come from them), else on what its traffic verifies. A request-dependent name cannot be checked here: no name.
    """
    if not item["tls"]:
        return None
    check = _tls_health_check(item)
    name = check.get("verify_name") if check else item["verify_name"]
    depth = item["verify_depth"]
    if depth is not None and item["lb_type"] == "apache":
        depth -= 1  # Apache counts the anchor: its 0 takes only a leaf its CA file holds itself, -1 (docs/lb-view.md)
    if depth is not None:
        depth = min(depth, 100)  # beyond OpenSSL's own default limit a larger depth changes nothing here
    return {"server_names": [name] if isinstance(name, str) and item["name_rule"] else [],
            "name_rule": item["name_rule"], "verify_depth": depth, "check_chain": bool(item["verify"]),
            "check_expiry": bool(item["check_expiry"]),
            "crl_check": item["crl_check"] if item["verify"] else "none",
            "crl_missing_ok": bool(item["crl_missing_ok"]),
            "security_level": security_level((check or {}).get("ciphers") or item.get("ciphers"))}


_SECLEVEL = re.compile(r"@SECLEVEL=([0-5])(?![0-9])")
_SECLEVEL_ANY = re.compile(r"@seclevel=?[0-9]*", re.IGNORECASE)  # how OpenSSL's cipher list parser sees one
_SECLEVEL_VALID = re.compile(r"@SECLEVEL=[0-5]")


_CIPHER_LISTS = {}  # cipher list -> whether this host's OpenSSL selects a cipher from it (cipher_list_problem)


def cipher_list_problem(ciphers, setting):
    """Why a load balancer refuses its cipher list for TLS 1.2 and lower, as this host's OpenSSL reads it
    (SSL_CTX_set_cipher_list, which nginx, Apache and HAProxy all call at start: no cipher selected from an unknown
    name, a TLS 1.3 suite's name or `!ALL`), for a message naming `setting`; None when it selects one. Each list is
    asked once a run (a pool's servers share theirs)."""
    if not ciphers:
        return None
    if ciphers not in _CIPHER_LISTS:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).set_ciphers(ciphers)
            _CIPHER_LISTS[ciphers] = True
        except (ssl.SSLError, ValueError):  # ValueError: a NUL byte
            _CIPHER_LISTS[ciphers] = False
    if _CIPHER_LISTS[ciphers]:
        return None
    return "%s %s: OpenSSL selects no cipher from it, and the load balancer refuses this configuration" % (
        setting, ciphers)


def security_level(ciphers):
    """The OpenSSL security level a cipher string sets (its last `@SECLEVEL=n`, as SSL_CTX_set_cipher_list applies
    it: one digit, 0 to 5; OpenSSL refuses any other, and lower case), or None where it sets none (the library's
    default stands: 2 on Debian)."""
    found = _SECLEVEL.findall(ciphers or "")
    return int(found[-1]) if found else None


def lb_view(specs, *, probe=True, timeout=5.0, concurrency=16, include_pem=True, chain_pem=False, run_command=None,
            version_of=None, only=None, now=None):
    """The whole lb_backend_info result (without `changed`), plus 'warnings'. specs: [(lb_type, config path)];
    version_of(lb_type): the installed server's version text (`nginx -v`), when it can be asked; only: keep just
    these backends ('pool/server')."""
    collector = _collector.Collector(include_pem=include_pem, chain_pem=chain_pem, now=now)
    items, configs = [], []
    for lb_type, path in specs:
        status = {"lb_type": lb_type, "config_file": path, "backends": 0, "error": None, "version": None}
        version = None
        if lb_type == "nginx":
            version = _parser("nginx").nginx_version(version_of(lb_type) if version_of else None)
            status["version"] = ".".join(str(v) for v in version) if version else None
            if version is None:
                collector.warnings.append("the nginx version is unknown (no nginx binary answered -v): its defaults "
                                          "are taken as nginx 1.22's (proxy_ssl_protocols without TLSv1.3)")
        try:
            found = _read_config(lb_type, path, run_command, version)
            if only is not None:
                found = [i for i in found if "%s/%s" % (i["pool"], i["server"]) in only]
            status["backends"] = len(found)
            items.extend(found)
        except CertError as exc:
            status["error"] = exc.as_dict()
        configs.append(status)

    anchors, revocations, crls = {}, {}, {}
    for item in items:
        fingerprints, empty_directory = [], None
        # 2: nginx loads its CA and CRL files only where it verifies (ngx_http_proxy_set_ssl, and the stream
        # module's alike): elsewhere one it cannot read fails nothing. HAProxy and Apache load theirs at start.
        loaded = item["verify"] or item["lb_type"] != "nginx"
        for key in ("ca_file", "ca_path"):
            if item[key]:
                rule = "hashed" if key == "ca_path" else "haproxy" if item["lb_type"] == "haproxy" else None
                if (rule, item[key]) not in anchors:
                    anchors[(rule, item[key])] = _anchors(collector, item[key], rule)
                found, error = anchors[(rule, item[key])]
                fingerprints.extend(f for f in found or [] if f not in fingerprints)
                if error and rule == "hashed" and error["code"] == "NOT_A_CERTIFICATE":
                    empty_directory = error  # Apache starts with it and finds nothing there: see below
                elif loaded:
                    item["error"] = item["error"] or error
        # 3: a hashed directory OpenSSL finds nothing in only matters when nothing else is trusted and the chain is
        # verified (a differential fuzz against Apache 2.4.71: beside a CA file, or with SSLProxyVerify none, it
        # proxies as without it)
        if empty_directory and item["verify"] and not fingerprints:
            item["error"] = item["error"] or empty_directory
        if loaded and (item["ca_file"] or item["ca_path"]):
            # 4: the CRL setting's certificates are trusted too: OpenSSL loads a CRL file's certificates into the
            # store its CA setting fills (X509_load_cert_crl_file; HAProxy copies every object of its crl-file's
            # store), and Apache's CRL directory is a hashed lookup of that store, for certificates as for CRLs
            for key in ("crl_file", "crl_path"):
                if item[key]:
                    if (key, item[key]) not in anchors:
                        anchors[(key, item[key])] = _crl_setting_anchors(collector, key, item[key])
                    fingerprints.extend(f for f in anchors[(key, item[key])] if f not in fingerprints)
        item["ca_fingerprints"] = fingerprints if (item["ca_file"] or item["ca_path"]) else None
        fingerprints = []
        sources = [(key, read) for key, read in (("crl_file", _crl_file), ("crl_path", _crl_directory)) if item[key]]
        if sources:
            # the CA setting's own CRLs: OpenSSL loads a CA file's into the same store (X509_load_cert_crl_file),
            # and Apache's CA directory is a hashed lookup of it for CRLs too; they count wherever CRLs are checked
            # (the CRL hunt of 2026-12-07: a newer CRL there revoking the leaf made the load balancers refuse a
            # backend the CRL setting alone passed)
            sources += [(key, read) for key, read in (("ca_file", _ca_file_crls), ("ca_path", _ca_directory_crls))
                        if item[key]]
        no_crl = None  # a CRL setting loaded without a CRL in it: its error, when no other CRL is found either
        for key, read in sources:
            if item[key]:
                if (key, item[key]) not in revocations:  # each file read once per run, as the CA files
                    revocations[(key, item[key])] = read(item[key])
                found, error = revocations[(key, item[key])]
                if found == [] and error:
                    no_crl, error = no_crl or error, None
                for der, crl in found or []:
                    fingerprint = _base.fingerprint(der)
                    if fingerprint not in crls:  # one entry per distinct CRL, whichever files hold it
                        crls[fingerprint] = _certs.crl_facts(der, crl)
                        if include_pem:
                            crls[fingerprint]["pem"] = crl_pem(der)
                    if fingerprint not in fingerprints:
                        fingerprints.append(fingerprint)
                if loaded:
                    item["error"] = item["error"] or error
        # 5: a store with no CRL at all makes the load balancer refuse every chain it checks ("unable to get
        # certificate CRL"): the CRL setting's error, unless Apache's no_crl_for_cert_ok forgives it (it then
        # checks nothing: the CRL hunt of 2026-12-07)
        if no_crl and loaded and not fingerprints and not item["crl_missing_ok"]:
            item["error"] = item["error"] or no_crl
        item["crl_fingerprints"] = fingerprints if (item["crl_file"] or item["crl_path"]) else None
        if item["client_cert"]:
            item["client_cert"] = {"path": item["client_cert"],
                                   "fingerprint_sha256": _client_fingerprint(collector, item["client_cert"])}
        item["verify_options"] = verify_options(item)
        item["endpoint"] = None

    if probe:
        keyed = {}
        for item in items:
            target = probe_target(dict(item, client_cert=(item["client_cert"] or {}).get("path")))
            if target is not None:
                item["_target"] = _target_key(target)
                keyed.setdefault(item["_target"], target)
        order = list(keyed)
        results = _probe.probe_many([keyed[k] for k in order], timeout=timeout, concurrency=concurrency)
        if results and _probe.chain_method() == "leaf":
            collector.warnings.append("no way to read the served chain on this host (Python < 3.10 and no "
                                      "openssl binary): endpoints report the leaf only")
        entries = {}
        for key, result in zip(order, results):
            entry = collector.endpoint_entry(keyed[key], result)
            entry.pop("matches_files", None)
            entry.pop("client_key", None)
            entries[key] = entry
        for item in items:
            if "_target" in item:
                item["endpoint"] = dict(entries[item.pop("_target")])

    certificates = list(collector.certificates.values())
    if chain_pem and not include_pem:
        for facts in certificates:
            facts.pop("pem", None)
    endpoints = [i["endpoint"] for i in items if i["endpoint"]]
    codes = {}
    for item in items:
        for error in (item["error"], (item["endpoint"] or {}).get("error")):
            if error:
                codes[error["code"]] = codes.get(error["code"], 0) + 1
    summary = {
        "backends": len(items),
        "tls": sum(1 for i in items if i["tls"]),
        "verified": sum(1 for i in items if i["verify"]),
        "not_verified": sum(1 for i in items if i["tls"] and not i["verify"]),
        "probed": len(endpoints),
        "reachable": sum(1 for e in endpoints if e["ok"]),
        "errors": sum(1 for i in items if i["error"] or (i["endpoint"] or {}).get("error")),
        "disabled": sum(1 for i in items if i["disabled"]),
        "error_codes": codes,
    }
    return {"lb_backends": items, "certificates": certificates, "crls": list(crls.values()), "configs": configs,
            "summary": summary, "warnings": collector.warnings}
