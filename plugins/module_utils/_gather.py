# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""backend_cert_info's host half, with the standard library alone: its options, the paths walked, the endpoints and
sites parsed, the files read and taken apart (_material), the endpoints probed.

gather() is what a host runs (the module backend_cert_material) when the certificates are described on the
controller (_collect.describe); _collect.collect() uses the same parsing and probing where the module runs whole.
Nothing here imports cryptography unless a file needs it (_material.NeedsCryptography).
"""

from __future__ import annotations

import errno
import fnmatch
import ipaddress
import os
import stat
from urllib.parse import urlsplit

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.certops.backend_tls.plugins.module_utils import _base, _material, _secrets
from ansible_collections.certops.backend_tls.plugins.module_utils._base import CertError, port_number

SERVER_TYPES = ("nginx", "apache", "haproxy")


ENDPOINT_KEYS = ("host", "port", "server_name", "sni", "client_cert", "client_key", "proxy_protocol", "key_type")


# an endpoint's key_type, as written (any case; ECDSA is EC) -> as certificates[].public_key.type spells it
KEY_TYPE_SPELLINGS = {name.lower(): name for name in _base.KEY_TYPES}
KEY_TYPE_SPELLINGS["ecdsa"] = "EC"


PROXY_PROTOCOLS = ("v1", "v2")


DISCOVER_KEYS = ("type", "config", "binary")


_GLOB_CHARS = ("*", "?", "[")


MAX_FILE_SIZE_LIMIT = 64 * 1024 * 1024  # the largest max_file_size: each file read may take this much memory

# backend_cert_info's options; the host half (backend_cert_material) takes HOST_OPTIONS of them


SITE_OPTIONS = dict(
    name=dict(type="str", required=True),
    server_type=dict(type="str", choices=list(SERVER_TYPES)),
    cert_path=dict(type="path", required=True),
    key_path=dict(type="path"),
    chain_path=dict(type="path"),
    endpoint=dict(type="raw"),
    server_names=dict(type="list", elements="str", default=[]),
)


ARGUMENT_SPEC = dict(
    paths=dict(type="list", elements="path"),
    endpoints=dict(type="list", elements="raw"),
    discover=dict(type="list", elements="raw"),
    sites=dict(type="list", elements="dict", options=SITE_OPTIONS),
    timeout=dict(type="float", default=5),
    concurrency=dict(type="int", default=16),
    include_pem=dict(type="bool", default=True),
    chain_pem=dict(type="bool", default=False),
    max_file_size=dict(type="int", default=1048576),
    query=dict(type="str"),
)


REQUIRED_ONE_OF = [("paths", "endpoints", "discover", "sites")]


HOST_OPTIONS = ("paths", "endpoints", "sites", "timeout", "concurrency", "max_file_size")


def _certs():
    """The cryptography half of the vocabulary: imported where certificates are described, never by gather()."""
    from ansible_collections.certops.backend_tls.plugins.module_utils import _certs

    return _certs


def limits_problem(params):
    """(msg, error) when timeout, concurrency or max_file_size is out of range, else None."""
    if not 0 < params["timeout"] <= 86400 or params["concurrency"] < 1 or params["max_file_size"] < 1:
        return ("timeout, concurrency and max_file_size must be positive",
                {"code": "INVALID_ARGUMENT", "message": "non-positive limit"})
    if params["max_file_size"] > MAX_FILE_SIZE_LIMIT:
        return ("max_file_size must be at most %d (64 MiB), got %d: no certificate or key file is that large"
                % (MAX_FILE_SIZE_LIMIT, params["max_file_size"]),
                {"code": "INVALID_ARGUMENT", "message": "max_file_size over %d" % MAX_FILE_SIZE_LIMIT})
    return None


def _has_magic(text):
    return any(ch in text for ch in _GLOB_CHARS)


def _dir_error(exc):
    if exc.errno in (errno.EACCES, errno.EPERM):
        return {"code": "PERMISSION_DENIED", "message": "cannot list the directory: permission denied"}
    return {"code": "NOT_FOUND", "message": "cannot list the directory: %s" % exc.strerror}


def _advance(states, name, pats):
    """Pattern positions reached after matching one more path component `name` (glob semantics:
    `**` is any number of components, wildcards match no name starting with '.' unless the
    pattern component starts with '.')."""
    hidden = name.startswith(".")
    reached = set()
    for index in states:
        if index == len(pats):
            continue
        pat = pats[index]
        if pat == "**":
            if not hidden:
                reached.add(index)
        elif (not hidden or pat.startswith(".")) and fnmatch.fnmatchcase(name, pat):
            reached.add(index + 1)
    return _closure(reached, pats)


def _closure(states, pats):
    out = set(states)
    for start in sorted(states):
        end = start
        while end < len(pats) and pats[end] == "**":
            end += 1
            out.add(end)
    return out


def _walk(top, pats=None, dirs_only=False):
    """(path, error) for every file under top, in os.walk order (a directory's files, sorted, then its
    subdirectories), following directory symlinks but entering each directory (st_dev, st_ino) once:
    real directories first, symlinked ones after, so a file is named by its real path when it has one.

    With `pats` (glob components below top) only matching files, and everything under a matching
    directory, are yielded; directories that cannot lead to a match are not entered. A directory that
    cannot be listed is an item with an error (PERMISSION_DENIED, NOT_FOUND).
    """
    visited = set()
    start = None if pats is None else _closure({0}, pats)
    stack = [(top, None if start is None or len(pats) in start else start)]
    deferred = []
    while stack or deferred:
        if not stack:
            stack, deferred = list(reversed(deferred)), []
        path, states = stack.pop()
        try:
            info = os.stat(path or ".")
            if (info.st_dev, info.st_ino) in visited:
                continue
            visited.add((info.st_dev, info.st_ino))
            with os.scandir(path or ".") as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            yield path, _dir_error(exc)
            continue
        subdirs = []
        for entry in entries:
            child = os.path.join(path, entry.name)
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            child_states = None if states is None else _advance(states, entry.name, pats)
            if is_dir:
                if child_states is not None and len(pats) in child_states:
                    child_states = None  # the directory matches: everything under it is wanted
                elif child_states is not None and not any(i < len(pats) for i in child_states):
                    continue
                try:
                    linked = entry.is_symlink()
                except OSError:
                    linked = False
                (deferred if linked else subdirs).append((child, child_states))
            elif child_states is None or (not dirs_only and len(pats) in child_states):
                yield child, None
        stack.extend(reversed(subdirs))


def _glob(pattern):
    """(path, error) for a glob pattern (`*`, `?`, `[...]`, `**`), sorted; like glob.glob(recursive=True)
    then each matched directory walked, but never following a directory loop."""
    comps = pattern.split(os.sep)
    index = 0
    while index < len(comps) and not _has_magic(comps[index]):
        index += 1
    base = os.sep.join(comps[:index]) or (os.sep if pattern.startswith(os.sep) else "")
    pats = [c for c in comps[index:] if c]
    if not os.path.isdir(base or "."):
        return []
    return sorted(_walk(base, pats, dirs_only=pattern.endswith(os.sep)), key=lambda item: item[0])


def expand_paths(paths):
    """Files, directories (walked recursively) and globs -> unique [(path, error or None)] in order.

    A missing path is kept (it is reported NOT_FOUND when read); a directory that cannot be listed
    comes back with its error.
    """
    seen, out = set(), []
    for entry in paths:
        if "\x00" in entry:
            raise CertError("INVALID_ARGUMENT", "path %r contains a NUL byte" % entry)
        if _has_magic(entry):
            items = _glob(entry)
        elif os.path.isdir(entry):
            items = _walk(entry)
        else:
            items = [(entry, None)]
        for path, error in items:
            if path not in seen:
                seen.add(path)
                out.append((path, error))
    return out


def _unknown_keys(what, spec, allowed):
    unknown = sorted(str(k) for k in set(spec) - set(allowed))
    if not unknown:
        return
    import difflib  # only for a mistake: not worth importing on every run

    hints = ["%s (not %s)" % (m[0], k) for k in unknown for m in [difflib.get_close_matches(k, allowed, 1)] if m]
    raise CertError("INVALID_ARGUMENT", "%s: unknown key%s %s (allowed: %s)%s" % (
        what, "s" if len(unknown) > 1 else "", ", ".join(unknown), ", ".join(allowed),
        "; did you mean %s?" % ", ".join(hints) if hints else ""))


def _name_problem(name):
    """None when name is an IP literal or a DNS-like name (letters incl. IDN, digits, '-', '_', '.')."""
    if _base.ip_address(name) is not None:
        return None
    if ":" in name:
        return "%r is not a valid IPv6 address" % name
    labels = (name[:-1] if name.endswith(".") else name).split(".")
    if len(name) > 253:
        return "the name is longer than 253 characters"
    for label in labels:
        if not label:
            return "%r has an empty label" % name
        bad = [ch for ch in label if not (ch.isalnum() or ch in "-_")]
        if bad:
            return "%r contains %r, which a host name cannot" % (name, bad[0])
        if len(label) > 63:
            return "%r has a label longer than 63 characters" % name
        if label.startswith("-") or label.endswith("-"):
            return "%r has a label that starts or ends with '-'" % name
    if labels[-1].isdigit():
        return "%r is not a valid IPv4 address" % name
    return None


def _url_hint(text):
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port
    except ValueError:
        return ""
    if not host:
        return ""
    port = port or {"https": 443, "http": 80}.get(parts.scheme.lower(), 443)
    return " (here: '%s')" % ("[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port))


def _split_endpoint(spec, text):
    """'host:port', '[v6]:port', 'host' or '[v6]' -> (host, port text or 443)."""
    if "/" in text:
        raise CertError("INVALID_ARGUMENT", "endpoint %r: give host:port, not a URL%s" % (spec, _url_hint(text)))
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise CertError("INVALID_ARGUMENT", "endpoint %r: write an IPv6 endpoint as [address]:port, "
                            "e.g. [::1]:8443" % spec)
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise CertError("INVALID_ARGUMENT", "endpoint %r: only an IPv6 address goes in brackets" % spec)
        return host, (rest[1:] if rest else 443)
    if text.count(":") > 1:
        raise CertError("INVALID_ARGUMENT", "endpoint %r: an IPv6 address needs brackets; write IPv6 with a "
                        "port as [::1]:8443, or [::1] for port 443" % spec)
    if ":" in text:
        host, _sep, port = text.partition(":")
        return host, port
    return text, 443


def _port(spec, port):
    if port is None:
        return 443
    if isinstance(port, bool) or not isinstance(port, (int, str)) or \
            (isinstance(port, str) and not (port.isdigit() and port.isascii())):
        raise CertError("INVALID_ARGUMENT", "endpoint %r: port %r is not a number" % (spec, port))
    port = port_number(port) if isinstance(port, str) else (port if 0 < port < 65536 else None)
    if port is None:
        raise CertError("INVALID_ARGUMENT", "endpoint %r needs a host and a port between 1 and 65535" % (spec,))
    return port


def _host(spec, host, what="host"):
    if not isinstance(host, str) or not host:
        raise CertError("INVALID_ARGUMENT", "endpoint %r needs a host and a port between 1 and 65535" % (spec,))
    problem = _name_problem(host)
    if problem:
        raise CertError("INVALID_ARGUMENT", "endpoint %r: %s %s" % (spec, what, problem))
    return host


def _shown(spec):
    """spec as error messages may show it: a value holding private key text (at any depth) is masked."""
    if isinstance(spec, dict):
        return dict((k, _secrets.REDACTED if _secrets.MARKER in repr(v) else v) for k, v in spec.items())
    return spec


def _client_path(spec, value, what):
    """A client_cert / client_key value -> the path (~ and $VARS expanded), or None when not given."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise CertError("INVALID_ARGUMENT", "endpoint %r: %s must be a path" % (spec, what))
    if "-----BEGIN" in value or "\n" in value or "\x00" in value:
        raise CertError("INVALID_ARGUMENT", "endpoint %r: %s must be the path of a PEM file on the host the module "
                        "runs on, not the %s itself" % (spec, what, "key" if what == "client_key" else "certificate"))
    return os.path.expanduser(os.path.expandvars(value))


def parse_endpoint(spec):
    """'host:port', '[v6]:port', 'host', '[v6]' or {host, port, server_name, sni, client_cert, client_key,
    proxy_protocol, key_type} -> {host, port, server_name}, plus client_cert and client_key (paths; key None: in the
    cert file) when a client certificate is given, sni: False (server_name None) when no SNI is to be sent,
    proxy_protocol ("v1" or "v2") when a PROXY protocol header is to be sent first, and key_type (RSA, EC, Ed25519
    or Ed448) when the certificate of that key type is asked for.

    The host is an IP literal or a DNS-like name; anything else (a URL, an IPv6 address without
    brackets in a string, an unknown dict key, key text instead of a key path) is CertError
    INVALID_ARGUMENT saying how to write it. Messages never repeat private key text.
    """
    extra = None  # client_cert, client_key, proxy_protocol: only when given
    if isinstance(spec, dict):
        shown = _shown(spec)
        _unknown_keys("endpoint %r" % (shown,), spec, ENDPOINT_KEYS)
        host = spec.get("host")
        if isinstance(host, str) and host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        port = spec.get("port")
        server_name = spec.get("server_name")
        if server_name is not None and server_name != "":
            if not isinstance(server_name, str):
                raise CertError("INVALID_ARGUMENT", "endpoint %r: server_name must be a string" % (shown,))
            _host(shown, server_name, what="server_name")
        try:  # a raw list element: a YAML boolean, or text such as "false" from a template or a survey
            sni = boolean(spec.get("sni", True) if spec.get("sni") is not None else True, strict=True)
        except TypeError:
            raise CertError("INVALID_ARGUMENT", "endpoint %r: sni must be true or false" % (shown,))
        if not sni and server_name:
            raise CertError("INVALID_ARGUMENT", "endpoint %r: server_name is the SNI sent; with sni: false there is "
                            "none (leave server_name out)" % (shown,))
        cert = _client_path(shown, spec.get("client_cert"), "client_cert")
        key = _client_path(shown, spec.get("client_key"), "client_key")
        if key and not cert:
            raise CertError("INVALID_ARGUMENT", "endpoint %r: client_key needs client_cert (the certificate the "
                            "key belongs to)" % (shown,))
        extra = {"client_cert": cert, "client_key": key} if cert else {}
        proxy_protocol = spec.get("proxy_protocol")
        if proxy_protocol is not None and proxy_protocol not in PROXY_PROTOCOLS:
            raise CertError("INVALID_ARGUMENT", "endpoint %r: proxy_protocol must be v1 or v2 (the PROXY protocol "
                            "header sent before the handshake), or null for none" % (shown,))
        if proxy_protocol:
            extra["proxy_protocol"] = proxy_protocol
        key_type = spec.get("key_type")
        if key_type is not None:
            if not isinstance(key_type, str) or key_type.lower() not in KEY_TYPE_SPELLINGS:
                raise CertError("INVALID_ARGUMENT", "endpoint %r: key_type must be one of %s (the key type of the "
                                "certificate to ask for, where the server holds several), or null for any"
                                % (shown, ", ".join(_base.KEY_TYPES)))
            extra["key_type"] = KEY_TYPE_SPELLINGS[key_type.lower()]
        spec = shown
    elif isinstance(spec, str):
        host, port = _split_endpoint(spec, spec.strip())
        if port == "":
            raise CertError("INVALID_ARGUMENT", "endpoint %r: no port after ':'" % spec)
        server_name, sni = None, True
    else:
        raise CertError("INVALID_ARGUMENT", "endpoint %r is neither 'host:port' nor a dict" % (spec,))
    port = _port(spec, port)
    host = _host(spec, host)
    if not sni:  # as nginx does by default (proxy_ssl_server_name off): the backend's default certificate
        target = {"host": host, "port": port, "server_name": None, "sni": False}
    else:
        target = {"host": host, "port": port, "server_name": server_name or _base.default_server_name(host)}
    target.update(extra or {})
    return target


def endpoint_key(target):
    """What makes two endpoints the same probe: address, SNI, the client certificate presented, the PROXY
    protocol header sent first and the key type asked for."""
    return (target["host"], target["port"], target["server_name"], target.get("client_cert"),
            target.get("client_key"), target.get("proxy_protocol"), target.get("key_type"))


def parse_discover(item):
    """A `discover` item (a server type, or {type, config, binary}) -> {type, config, binary}."""
    spec = {"type": item} if isinstance(item, str) else item
    if not isinstance(spec, dict) or spec.get("type") not in SERVER_TYPES:
        raise CertError("INVALID_ARGUMENT", "discover item %r: expected one of %s or a dict with 'type'"
                        % (item, ", ".join(SERVER_TYPES)))
    _unknown_keys("discover item %r" % (item,), spec, DISCOVER_KEYS)
    for key in ("config", "binary"):
        if spec.get(key) is not None and (not isinstance(spec[key], str) or not spec[key].strip()):
            raise CertError("INVALID_ARGUMENT", "discover item %r: %s must be a path" % (item, key))
    return {"type": spec["type"], "config": spec.get("config"), "binary": spec.get("binary")}


def declared_site(spec):
    """A role-style site dict -> the site shape that discovery returns."""
    endpoint = parse_endpoint(spec["endpoint"]) if spec.get("endpoint") else None
    names = list(spec.get("server_names") or [])
    if endpoint and not endpoint["server_name"] and names and endpoint.get("sni") is not False:
        endpoint["server_name"] = names[0]
    return {
        "name": spec["name"],
        "server_type": spec.get("server_type"),
        "config_file": None,
        "server_names": names,
        "listen": ["%s:%d" % (endpoint["host"], endpoint["port"])] if endpoint else [],
        "cert_file": spec["cert_path"],
        "key_file": spec.get("key_path") or spec["cert_path"],
        "chain_file": spec.get("chain_path"),
        "endpoint": endpoint,
    }


def _endpoints(targets, all_sites):
    """({endpoint key: target}, the keys in the result's order): each distinct probe once."""
    keyed = {}
    for target in targets + [s["endpoint"] for s in all_sites if s["endpoint"]]:
        keyed.setdefault(endpoint_key(target), target)
    return keyed, list(keyed)


def _probe_all(keyed, order, timeout, concurrency):
    """(the probes of the keys in order, warnings)."""
    if not order:  # files only: the prober (ssl, threads, about 800 lines a host compiles twice) is not imported
        return [], []
    from ansible_collections.certops.backend_tls.plugins.module_utils import _probe

    probes = _probe.probe_many([keyed[k] for k in order], timeout=timeout, concurrency=concurrency)
    method = _probe.chain_method() if probes else None
    if method == "leaf":
        return probes, ["no way to read the served chain on this host (Python < 3.10 and no openssl binary): "
                        "endpoints report the leaf only"]
    if method == "openssl" and any(keyed[k].get("proxy_protocol") for k in order):
        return probes, ["openssl s_client sends no PROXY protocol header, and this host's Python (< 3.10) cannot "
                        "read a served chain itself: endpoints with proxy_protocol report the leaf only"]
    return probes, []


_PROBE_KEYS = ("ok", "error", "tls_version", "cipher", "handshake_ms", "elapsed_ms")


class CryptographyMissing(Exception):
    """A file on the host needs cryptography to be read, and the host has none (or too old): (message, traceback)."""


def _require_cryptography():
    from ansible_collections.certops.backend_tls.plugins.module_utils import _deps

    problem = _deps.cryptography_problem(minimum=_deps.MIN_CRYPTOGRAPHY_INFO)
    if problem:
        raise CryptographyMissing(*problem)


def _realpaths():
    """_base.real_path (os.path.realpath) for the many files of a few directories: each directory resolved once, and
    a file that is no symlink joined to it, for one lstat instead of one per component of its path (1,000 files: 28
    to 9 ms)."""
    directories = {}

    def realpath(path):
        head, name = os.path.split(path)
        try:
            if not head or name in ("", ".", "..") or stat.S_ISLNK(os.lstat(path).st_mode):
                return _base.real_path(path)
        except (OSError, ValueError):  # missing, a directory on the way not searchable, a NUL byte: as realpath says
            return _base.real_path(path)
        if head not in directories:
            directories[head] = _base.real_path(head)
        return os.path.join(directories[head], name)

    return realpath


def _host_file(path, max_file_bytes, ref, realpath):
    """A file's material as a host sends it (see _material.host_material); ref(der) -> its index in the table,
    realpath(path) -> where it is (_realpaths)."""
    wire = {"realpath": realpath(path)}
    try:
        data = _base.read_file(path, max_bytes=max_file_bytes)
        try:
            material = _material.host_material(data)
        except _material.NeedsCryptography:  # a format or key the standard library cannot take apart: as before
            _require_cryptography()
            material = _certs().parse_material(data)
    except CertError as exc:
        wire.update(error=exc.as_dict(), format=exc.file_format)
        return wire
    if "raw" in material:
        wire["raw"] = ref(material["raw"])
        return wire
    key = material["key"]
    if key is not None:
        key = dict(key, _spki=_material.encode(key["_spki"]) if key["_spki"] is not None else None)
    wire.update(format=material["format"], ders=[ref(der) for der in material["ders"]], key=key,
                problems=material["problems"])
    return wire


def gather(*, paths=(), endpoints=(), sites=(), timeout=5.0, concurrency=16,
           max_file_bytes=_base.DEFAULT_MAX_FILE_BYTES):
    """The host's half of collect() for paths, endpoints and declared sites (no discovery), as JSON-ready data:
    {ders (each distinct DER once, base64), files: {path: material}, expanded, targets, sites, probes, warnings}.
    Needs no cryptography unless a file does (see _material)."""
    ders, index = [], {}

    def ref(der):
        if der not in index:
            index[der] = len(ders)
            ders.append(_material.encode(der))
        return index[der]

    targets = [parse_endpoint(spec) for spec in endpoints]
    all_sites = [dict(declared_site(spec), origin="declared") for spec in sites]
    expanded = expand_paths(paths)
    files = {}
    named = [path for path, error in expanded if not error]
    named += [site[key] for site in all_sites for key in ("cert_file", "key_file", "chain_file") if site[key]]
    realpath = _realpaths()
    for path in named:
        if path not in files:
            files[path] = _host_file(path, max_file_bytes, ref, realpath)
    for path, error in expanded:
        if error and path not in files:
            files[path] = {"realpath": realpath(path)}
    keyed, order = _endpoints(targets, all_sites)
    probes, warnings = _probe_all(keyed, order, timeout, concurrency)
    probes = [dict(((k, probe[k]) for k in _PROBE_KEYS), chain=[ref(der) for der in probe["chain_der"]])
              for probe in probes]
    return {"ders": ders, "files": files, "expanded": [list(item) for item in expanded], "targets": targets,
            "sites": all_sites, "probes": probes, "warnings": warnings}
