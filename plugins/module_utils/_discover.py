# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find TLS sites in nginx, Apache and HAProxy configuration (pure parsers).

Each parser takes the main config path and a `FileSource` (how to read and glob files: the
real filesystem, or the files of an `nginx -T` dump) and returns a list of site dicts:
{name, server_type, config_file, server_names, listen, cert_file, key_file, chain_file, endpoint, error}.
A certificate path the server only resolves at run time (an nginx `$variable`, an Apache `${VAR}`
that is not Defined, an HAProxy environment variable) is not a file we can read: the site then has
cert_file/key_file/chain_file None for that path and error {code: DYNAMIC_PATH, message}.
Parsers raise only CertError, whatever the input (include cycles, deep nesting, binary junk).
Running the servers' binaries is the module's business, not this file's.
"""

from __future__ import annotations

import fnmatch
import glob
import ipaddress
import itertools
import os
import re
import time
from socket import gethostname

from ansible_collections.certops.backend_tls.plugins.module_utils import _probe
from ansible_collections.certops.backend_tls.plugins.module_utils._base import CertError, port_number, read_file
from ansible_collections.certops.backend_tls.plugins.module_utils._probe import default_server_name, is_ip

MAX_INCLUDE_DEPTH = 32
MAX_INCLUDED_FILES = 10000  # file reads per configuration: bounds include fan-out (a*/ including a*/...)
MAX_BLOCK_DEPTH = 100  # nested { } in nginx; deeper is not a real configuration
MAX_CONFIG_BYTES = 32 * 1024 * 1024  # one configuration file (main, included, crt-list); larger is refused: TOO_LARGE
DEFAULT_CONFIGS = {
    "nginx": ["/etc/nginx/nginx.conf"],
    "apache": ["/etc/apache2/apache2.conf", "/etc/httpd/conf/httpd.conf"],
    "haproxy": ["/etc/haproxy/haproxy.cfg"],
}


class FileSource:
    """Reads and globs files; `files` (path -> text) replaces the filesystem when given."""

    def __init__(self, files=None):
        self.files = files
        self.reads = 0

    def read(self, path):
        self.reads += 1
        if self.reads > MAX_INCLUDED_FILES:
            raise CertError("INVALID_CONFIG", "more than %d configuration files read (include loop?) at %s"
                            % (MAX_INCLUDED_FILES, path))
        if self.files is not None:
            if path not in self.files:
                raise CertError("NOT_FOUND", "%s is not in the configuration dump" % path)
            return self.files[path]
        try:
            # Never blocks: a FIFO, socket or device is refused (NOT_REGULAR_FILE) without being read.
            data = read_file(path, max_bytes=MAX_CONFIG_BYTES)
        except CertError as exc:
            raise CertError(*_config_read_error(path, exc))
        # what open(path, "r", newline=None) read before: universal newlines
        return data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")

    def glob(self, pattern, recursive=False):
        """The files a pattern names, sorted, as glob(3) finds them (a wildcard matches within one path segment, and
        not a name's leading dot); a directory: its files, and with recursive (Apache's Include) those of every
        directory below it too."""
        if self.files is not None:
            below = recursive and pattern.endswith("/")
            return sorted(p for p in self.files if _glob_match(p, pattern) or (below and p.startswith(pattern)))
        try:
            if os.path.isdir(pattern):
                if recursive:
                    return _tree_files(pattern)
                return sorted(os.path.join(pattern, n) for n in os.listdir(pattern)
                              if os.path.isfile(os.path.join(pattern, n)))
            if recursive:  # Apache: a directory the wildcard matches is included whole, where it sorts
                return [f for p in sorted(glob.glob(pattern)) for f in (_tree_files(p) if os.path.isdir(p) else
                                                                        [p] if os.path.isfile(p) else [])]
            return sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        except OSError as exc:
            code = "PERMISSION_DENIED" if isinstance(exc, PermissionError) else "NOT_FOUND"
            raise CertError(code, "cannot list %s: %s" % (pattern, exc.strerror))

    def exists(self, path):
        return path in self.files if self.files is not None else os.path.exists(path)


def _tree_files(directory, depth=0):
    """Every file under a directory as Apache's Include reads it: each directory's entries sorted by name, a
    directory read in place where it sorts (x/ before x.conf), dot files included."""
    if depth > MAX_INCLUDE_DEPTH:
        raise CertError("INVALID_CONFIG", "directories nested deeper than %d under %s" % (MAX_INCLUDE_DEPTH, directory))
    out = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            out.extend(_tree_files(path, depth + 1))
        elif os.path.isfile(path):
            out.append(path)
    return out


def _glob_match(path, pattern):
    """Whether glob(3) matches path with pattern (as nginx's include does): segment by segment, a wildcard never
    across a '/', and a name's leading dot only by a pattern segment that begins with one."""
    names, parts = path.split("/"), pattern.split("/")
    return len(names) == len(parts) and all(
        fnmatch.fnmatchcase(name, part) and (part.startswith(".") or not name.startswith(".") or name == part)
        for name, part in zip(names, parts))


def _config_read_error(path, exc):
    """(code, message) for a configuration file that read_file refused, naming the file and what to do."""
    if exc.code == "NOT_A_CERTIFICATE":  # read_file's code for a directory: for a configuration it is not a file
        return "NOT_REGULAR_FILE", "cannot read %s: it is a directory; give the configuration file" % path
    if exc.code == "NOT_REGULAR_FILE":
        return exc.code, "cannot read %s: %s; give the path of a regular configuration file" % (path, exc.message)
    if exc.code == "TOO_LARGE":
        return exc.code, ("cannot read %s: %s (MAX_CONFIG_BYTES); a configuration file this large is not one: "
                          "check the path" % (path, exc.message))
    if exc.code == "NOT_FOUND" and "NUL" in exc.message:
        return exc.code, "cannot read %r: %s" % (path, exc.message)
    return exc.code, "cannot read %s: %s" % (path, exc.message)


def _absolute(path, base):
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))


def haproxy_default_path(words, config):
    """The base of relative paths a global `default-path` line sets (HAProxy 2.4+): None for `current` (the working
    directory, haproxy_workdir), the configuration's directory for `config`, its parent for `parent`, the path given
    for `origin <path>`; also None for what HAProxy would refuse."""
    mode = words[1] if len(words) > 1 else None
    if mode == "config":
        return os.path.dirname(os.path.abspath(config))
    if mode == "parent":
        return os.path.dirname(os.path.dirname(os.path.abspath(config)))
    if mode == "origin" and len(words) > 2:
        return _absolute(words[2], os.path.dirname(os.path.abspath(config)))
    return None


class HAProxyPaths:
    """How HAProxy resolves a relative path: against ca-base/crt-base when the line has one, else what a global
    `default-path` says (haproxy_default_path), else its working directory (haproxy_workdir, looked up once, and only
    when a relative path needs it). Shared by discovery and the load balancer view."""

    def __init__(self, config):
        self.config, self.default, self._workdir = config, None, None

    def set_default(self, words):
        self.default = haproxy_default_path(words, self.config)

    def absolute(self, value, base=None):
        if os.path.isabs(value):
            return value
        if base:  # a relative ca-base / crt-base is itself resolved as any relative path
            return _absolute(value, self.absolute(base))
        base = self.default
        if not base:
            if self._workdir is None:
                self._workdir = haproxy_workdir(self.config)
            base = self._workdir
        return _absolute(value, base)


def haproxy_workdir(config, proc="/proc"):
    """The directory HAProxy resolves a relative path against when no ca-base/crt-base applies: its working
    directory, not the configuration's. That of a running HAProxy that reads this configuration (a `-f` naming it or
    its directory, read from /proc/<pid>/cmdline and resolved against /proc/<pid>/cwd), else / (Debian's systemd
    unit sets no WorkingDirectory). Measured: run from /, `haproxy -c` cannot open a ca-file named relative to the
    configuration's directory."""
    target = os.path.realpath(config)
    try:
        pids = sorted((name for name in os.listdir(proc) if name.isdigit()), key=int)
    except OSError:
        return "/"
    for pid in pids:
        try:
            with open(os.path.join(proc, pid, "cmdline"), "rb") as handle:
                args = [a.decode("utf-8", "surrogateescape") for a in handle.read(65536).split(b"\0")]
            if not args or not os.path.basename(args[0]).startswith("haproxy"):
                continue
            cwd = os.readlink(os.path.join(proc, pid, "cwd"))
        except OSError:  # gone, or another user's process we may not look into
            continue
        named = [b for a, b in zip(args, args[1:]) if a == "-f"] + [a[2:] for a in args if a.startswith("-f") and a[2:]]
        for name in named:
            path = os.path.realpath(os.path.join(cwd, name))
            if path == target or target.startswith(path.rstrip("/") + "/"):
                return cwd
    return "/"


def dynamic_error(server_type, directive, value):
    return {"code": "DYNAMIC_PATH",
            "message": "%s %s %s is a dynamic path (resolved by the server at run time), not checked"
                       % (server_type, directive, value)}


def _listen_address(value):
    """A listen value ('127.0.0.1:8443', '[::1]:443', '*:443', '443', HAProxy's 'ipv4@:443') -> (host to probe,
    port, whether it names every IPv4 address), or None (unix:, no port). A wildcard is probed at 127.0.0.1."""
    value = value.strip()
    family = ""
    for prefix in ("ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@"):
        if value.startswith(prefix):
            value, family = value[len(prefix):], prefix
    if value.startswith("unix:") or value.startswith("/") or value.startswith("abns@"):
        return None
    if value.startswith("["):
        host, _sep, port = value[1:].partition("]:")
        host = "::1" if host in ("::", "") else host
    elif port_number(value):
        host, port = "", value
    else:
        host, _sep, port = value.rpartition(":")
    wildcard = host in ("", "*", "0.0.0.0", "_default_")
    port = port_number(port)
    if port is None:
        return None
    return ("127.0.0.1" if wildcard else host), port, wildcard and family not in ("ipv6@", "tcp6@")


def parse_listen(value):
    """'127.0.0.1:8443', '[::1]:443', '*:443', '443' -> (host to probe, port); None for unix:."""
    address = _listen_address(value)
    return address[:2] if address else None


PROBE_LABEL = "certops-probe"  # the label a probe puts where a site's only names have a wildcard
GROUP = "_certificate_group"  # a discovered site's (group, place) among its server's certificates (certificate_group)
_GROUPS = itertools.count()


def _usable_names(names):
    """The names a site answers to, as a probe can ask for them: nginx's `.a.test` is a.test; regular expressions,
    catch-alls and trailing wildcards name none."""
    return [n[1:] if n.startswith(".") else n for n in names
            if n and n not in ("_", ".") and not n.startswith("~") and "*" not in n]


def _sni_names(names):
    """The usable names (_usable_names) a client can send as SNI: no IP address (TLS carries none; Python sends no
    SNI for one), no nginx variable but `$hostname`, which nginx reads as this machine's host name (gethostname)."""
    sendable = []
    for written in _usable_names(names):
        name = gethostname().lower() if written == "$hostname" else written
        if "$" not in name and not is_ip(name.strip("[]")):
            sendable.append(name)
    return sendable


_RESOLVED = {}  # a listen's host name -> the address it is taken for (_listen_host), once per run
RESOLVE_SECONDS = 2.0  # each host name a listen is written with: a resolver that does not answer costs this once


def _listen_host(host):
    """The address of a listen written with a host name (`listen localhost:443`, `<VirtualHost localhost:443>`),
    which the server resolves when it starts and listens at: as resolved here (this runs on its host), the first
    IPv4 address, else the first one; the name as written when it cannot be resolved within RESOLVE_SECONDS."""
    if host not in _RESOLVED:
        _RESOLVED[host] = host
        if _HOST_NAME.fullmatch(host.lower()):
            try:
                found = [info[4][0] for info in _probe._resolve(host, None, time.monotonic() + RESOLVE_SECONDS)]
            except CertError:
                found = []
            found = sorted(found, key=lambda address: ":" in address)  # IPv4 first, else in the resolver's order
            _RESOLVED[host] = str(ipaddress.ip_address(found[0])) if found else host
    return _RESOLVED[host]


def _leading_wildcard_name(name):
    """A name a leading wildcard (`*.b.test`) matches, with PROBE_LABEL in its place; None for any other name."""
    if name and name.startswith("*.") and "*" not in name[2:] and len(name) > 2:
        return PROBE_LABEL + name[1:]
    return None


def probe_candidates(names):
    """The names a probe may send to reach a site known by these names, in order: those a client can send
    (_sni_names), then a name each leading wildcard matches (_leading_wildcard_name)."""
    return _sni_names(names) + [example for example in map(_leading_wildcard_name, names) if example]


def _probe_name(names):
    """The SNI that reaches a site: its first name a client can send (_sni_names), else one its first leading
    wildcard (`*.b.test`, as nginx server_name, an HAProxy crt-list filter or Apache ServerAlias write it) matches,
    else None."""
    usable = _sni_names(names)
    if usable:
        return usable[0]
    for name in names:
        if _leading_wildcard_name(name):
            return _leading_wildcard_name(name)
        if name and name.endswith(".*") and "*" not in name[:-2] and len(name) > 2 and not name.startswith("~"):
            return name[:-1] + PROBE_LABEL  # nginx's `www.a.*`: www.a. and anything after it
    return None


# -- a name nginx's regular expression server_name matches, for a probe's SNI

_RX_WILD_ESCAPES = {"d": "0", "w": "x"}
_HOST_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))*")


def _rx_class(p, i):
    """A bracket expression at p[i] -> (one character it takes, where it ends): a letter or digit where it names
    one (a negated one: x or 0, when not excluded)."""
    j, negated, members = i + 1, p[i + 1:i + 2] == "^", []
    j += negated
    while j < len(p) and (p[j] != "]" or j == i + 1 + negated):
        if p[j] == "[":  # a POSIX class ([:digit:]), which Python's re reads as characters: not walked
            raise ValueError("[ in a bracket expression")
        if p[j] == "\\":
            if p[j + 1:j + 2].isalnum() and p[j + 1] not in _RX_WILD_ESCAPES:  # \x41, \s...: PCRE's, not walked
                raise ValueError("escape in a bracket expression")
            members.append(_RX_WILD_ESCAPES.get(p[j + 1], p[j + 1]))
            j += 2
        elif p[j + 1:j + 2] == "-" and p[j + 2:j + 3] not in ("]", ""):
            members.append(p[j])  # a range: its first character
            j += 3
        else:
            members.append(p[j])
            j += 1
    if j >= len(p):
        raise ValueError("unterminated [")
    pick = [c for c in "x0" if c not in members] if negated else \
        [c for c in members if c.isalnum()] + [c for c in members if c in "-."]
    if not pick:
        raise ValueError("no character")
    return pick[0], j + 1, True


def _rx_atom(p, i):
    """(text, where it ends, whether it stands for any of several characters) for the atom at p[i]."""
    c = p[i]
    if c in "^$":
        return "", i + 1, False
    if c == ".":
        return "x", i + 1, True
    if c == "\\":
        escaped = p[i + 1]
        if escaped in _RX_WILD_ESCAPES:
            return _RX_WILD_ESCAPES[escaped], i + 2, True
        if escaped.isalnum():  # \s, \b, a back reference...: not walked
            raise ValueError(escaped)
        return escaped, i + 2, False
    if c == "[":
        return _rx_class(p, i)
    if c == "(":
        if p.startswith("(?:", i):
            j = i + 3
        elif p.startswith("(?P<", i) or (p.startswith("(?<", i) and p[i + 3:i + 4] not in ("=", "!")):
            j = p.index(">", i) + 1
        elif p.startswith("(?'", i):
            j = p.index("'", i + 3) + 1
        elif p.startswith("(?", i):  # look-around, flags, comments: not walked
            raise ValueError("(?")
        else:
            j = i + 1
        text, j = _rx_alternation(p, j)
        if p[j:j + 1] != ")":
            raise ValueError("unbalanced (")
        return text, j + 1, False
    if c in "*+?{":
        raise ValueError(c)
    return c, i + 1, False


def _rx_sequence(p, i):
    out, size = [], 0
    while i < len(p) and p[i] not in "|)":
        text, i, wild = _rx_atom(p, i)
        low, quantified = 1, re.match(r"[*+?]|\{(\d+)(?:,\d*)?\}", p[i:])
        if quantified:
            token = quantified.group(0)
            low = {"*": 0, "+": 1, "?": 0}.get(token, int(quantified.group(1) or 0))
            i += len(token)
            if p[i:i + 1] in ("?", "+"):  # lazy, possessive
                i += 1
            if low == 0 and wild and token != "?":
                low = 1  # `.*` as one character: an empty label is no host name
        size += len(text) * low
        if size > 253:  # no host name (and no need to build what `(a{64}){64}` would)
            raise ValueError("too long")
        out.append(text * low)
    return "".join(out), i


def _rx_alternation(p, i):
    first, i = _rx_sequence(p, i)
    while i < len(p) and p[i] == "|":
        _other, i = _rx_sequence(p, i + 1)
    return first, i


# A quantified group that holds a quantifier or an alternative, `(a+)+`, `(a|a)*`: Python's re may backtrack for
# minutes on a name it does not match. Such an expression is not walked, and another server's is taken to take any
# name (no probe name then, as before).
_RX_NESTED = re.compile(r"\((?:[^()\\]|\\.)*(?:[*+}|])(?:[^()\\]|\\.)*\)(?:[*+]|\{\d*,)")


# What PCRE reads and Python's re reads otherwise, or not at all: POSIX classes ([[:digit:]], which Python takes
# as the characters [:dgit), \Q...\E, verbs (*...), branch reset (?|, recursion (?R) (?1).
_RX_PCRE_ONLY = re.compile(r"\[\[|\[:|\\Q|\(\*|\(\?\||\(\?R|\(\?[+-]?\d")


def _rx_risky(pattern):
    """Whether Python's re cannot be trusted to read an expression as nginx's PCRE does (_RX_PCRE_ONLY), or may
    backtrack on it without bound (see _RX_NESTED; groups nested deeper than that check sees count too)."""
    return bool(_RX_PCRE_ONLY.search(pattern) or _RX_NESTED.search(pattern) or pattern.count("(") > 16 or (
        re.search(r"\([^)]*\(", pattern) and re.search(r"\)[*+{]", pattern)))


def _pcre_to_python(pattern):
    """An nginx (PCRE) regular expression as Python's re reads it: its named groups (?<n>...) and (?'n'...)."""
    pattern = re.sub(r"\(\?<(?![=!])", "(?P<", pattern)
    return re.sub(r"\(\?'([A-Za-z_]\w*)'", r"(?P<\1>", pattern)


def _ngx_regex_match(pattern, name):
    """Whether nginx's regular expression server_name (without its ~) takes this (lower-case) name: caseless only
    when the expression holds a capital letter, as nginx compiles them; None when Python's re cannot read it, or
    might not finish (_rx_risky)."""
    if _rx_risky(pattern):
        return None
    try:
        return re.search(_pcre_to_python(pattern), name, re.IGNORECASE if re.search("[A-Z]", pattern) else 0) \
            is not None
    except (re.error, RecursionError, OverflowError):
        return None


def regex_example(pattern):
    """A host name nginx's regular expression server_name (without its ~) matches: a walk of the pattern (the first
    of alternatives, optional parts left out, one of each repeated character or class), kept only when it is a host
    name and Python's re finds the pattern in it; else None."""
    if "(?" in pattern.replace("(?:", "").replace("(?<", "").replace("(?P<", "").replace("(?'", "") or \
            "\\Q" in pattern or _rx_risky(pattern):
        return None
    try:
        text, end = _rx_alternation(pattern, 0)
    except (ValueError, IndexError, RecursionError):
        return None
    name = text.lower()
    if name.startswith(".") and not pattern.startswith("^"):
        name = "x" + name  # `~\.a\.test$`: found anywhere in the name
    if end != len(pattern) or len(name) > 253 or not _HOST_NAME.fullmatch(name):
        return None
    return name if _ngx_regex_match(pattern, name) else None


def _ngx_takes(names, name):
    """Whether a server's exact or wildcard names take this name before any regular expression does (nginx:
    exact, then leading wildcards (`*.a.test`, `.a.test`), then trailing ones (`www.a.*`))."""
    for server_name in (n.lower() for n in names):
        if server_name == name:
            return True
        if server_name.startswith(".") and (name == server_name[1:] or name.endswith(server_name)):
            return True
        if server_name.startswith("*.") and name.endswith(server_name[1:]):
            return True
        if server_name.endswith(".*") and not server_name.startswith("~") and name.startswith(server_name[:-1]):
            return True
    return False


def ngx_regex_probe_name(names, others):
    """The SNI that reaches a server named only by regular expressions: an example of one of them (regex_example)
    that no other server of its listening sockets takes first - by an exact or wildcard name, or by a regular
    expression earlier in the configuration. others: [(names, whether it comes before this server)]. None if
    there is none."""
    for written in names:
        if not written.startswith("~"):
            continue
        name = regex_example(written[1:])
        if name and not any(_ngx_takes(theirs, name) or (before and any(
                n.startswith("~") and _ngx_regex_match(n[1:], name) is not False for n in theirs))
                for theirs, before in others):
            return name
    return None


def _unclaimed_loopback(port, claimed, listened=None):
    """An address whose connections to port reach the servers of a wildcard listen: 127.0.0.1, unless a server of
    the same process listens there itself (nginx and Apache then hand 127.0.0.1's connections to it alone), else the
    next 127.0.0.N that none does (Linux answers all of 127/8). listened: {port: the IPv4 addresses the server binds
    there} where it binds only those (Apache's `Listen 127.0.0.3:443`): the first of them none claims."""
    bound = (listened or {}).get(port)
    for address in sorted(bound) if bound else ("127.0.0.%d" % last for last in range(1, 255)):
        if (address, port) not in claimed:
            return address
    return "127.0.0.1"


def _ipv6_wildcard(value):
    """Whether a listen value is the IPv6 wildcard (`[::]:443`), which a probe reaches at ::1."""
    value = value.strip()
    return value.startswith("[::]") or value.startswith("[]")


def _unclaimed_ipv6(port, claimed):
    """Where a probe reaches the servers of an IPv6 wildcard listen on port: ::1, unless a server of the same process
    listens there itself (it then takes ::1's connections): None. (IPv6 has no other loopback address, and a probe
    is not sent to another of this host's addresses.)"""
    return None if ("::1", port) in claimed else "::1"


def _ipv6_unreached(listens):
    """The NO_PROBE_NAME error of a site whose only TLS listens are IPv6 wildcards no probe reaches."""
    return {"code": "NO_PROBE_NAME", "message": (
        "not probed: another server of its process listens on [::1] at the port of its IPv6 wildcard listen %s, so "
        "it takes the connections a probe makes to ::1, the only IPv6 loopback address (a probe is not sent to "
        "another of this host's addresses)" % ", ".join(listens))}


def make_site(server_type, config_file, server_names, listen, cert_file, key_file, chain_file, error=None,
              proxied=(), tls_listen=None, claimed=(), listened=None, probe_name=None, sni=True):
    """One site dict; the endpoint is the first listen address over TLS (tls_listen: those of listen that are, when
    not all are, in the order to try them) with the site's probe name as SNI (probe_name, else _probe_name);
    claimed: the (IPv4 address, port) another server of the same process listens on itself, where a wildcard listen
    is not reached (_unclaimed_loopback).

    sni=False: probed with no SNI at all: not its names (nginx ignores them all, say), nor a listen's host name.

    `error` ({code, message}) says why a path is None (DYNAMIC_PATH); None otherwise. `proxied`: the listen values
    whose connections must begin with a PROXY protocol header (nginx `listen ... proxy_protocol`, HAProxy
    `accept-proxy`, Apache `RemoteIPProxyProtocol On`); the endpoint then sends one (v1: all three take either).
    An IPv6 wildcard listen a probe to ::1 does not reach (_unclaimed_ipv6) is skipped; when that leaves no
    endpoint, the error is NO_PROBE_NAME.
    """
    endpoint, unreached = None, []
    for item in listen if tls_listen is None else [i for i in tls_listen if i in listen]:
        address = _listen_address(item)
        if address:
            parsed = address[:2]
            if (claimed or listened) and address[2]:
                parsed = (_unclaimed_loopback(parsed[1], claimed, listened), parsed[1])
            elif claimed and _ipv6_wildcard(item):
                parsed = (_unclaimed_ipv6(parsed[1], claimed), parsed[1])
                if parsed[0] is None:
                    unreached.append(item)
                    continue
            name = (probe_name or _probe_name(server_names) or default_server_name(parsed[0])) if sni else None
            endpoint = {"host": parsed[0], "port": parsed[1], "server_name": name}
            if item in proxied:
                endpoint["proxy_protocol"] = "v1"
            break
    if endpoint is None and unreached and error is None:
        error = _ipv6_unreached(unreached)
    first = (_usable_names(server_names) or server_names or [os.path.basename(cert_file or "site")])[0]
    return {
        "name": "%s-%s" % (server_type, first),
        "server_type": server_type,
        "config_file": config_file,
        "server_names": list(server_names),
        "listen": list(listen),
        "cert_file": cert_file,
        "key_file": key_file,
        "chain_file": chain_file,
        "endpoint": endpoint,
        "error": error,
    }


def certificate_group(sites):
    """The sites of one server that loads several certificates (nginx's ssl_certificate, Apache's
    SSLCertificateFile given more than once: one served per key type, the last of each type), each marked with the
    group it belongs to (GROUP): which of them is served, and how a probe reaches each, is decided once their files
    are read (_collect). A server with one certificate is one site, unmarked."""
    if len(sites) > 1:
        number = next(_GROUPS)
        for index, site in enumerate(sites):
            site[GROUP] = (number, index)
    return sites


# ---------------------------------------------------------------- nginx

def split_nginx_dump(text):
    """`nginx -T` output -> {path: content} using its '# configuration file X:' markers."""
    files, current, lines = {}, None, []
    for line in text.splitlines(True):
        match = re.match(r"^# configuration file (.+):\s*$", line)
        if match:
            if current is not None:
                files[current] = "".join(lines)
            current, lines = match.group(1), []
        elif current is not None:
            lines.append(line)
    if current is not None:
        files[current] = "".join(lines)
    return files


def dump_source(dump, main):
    """A FileSource over the files of an `nginx -T` dump, or None (read the files themselves) when there is no dump
    or it does not hold `main` (nginx read another file than the one asked about)."""
    if not dump:
        return None
    source = FileSource(split_nginx_dump(dump))
    return source if main in source.files else None


_NGX_BLANKS = " \t\r\n"
_NGX_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}


def _ngx_unescape(raw):
    """A word as nginx stores it: \\" \\' \\\\ lose their backslash, \\t \\r \\n are control characters, any other
    backslash stays (a regex's \\d)."""
    if "\\" not in raw:
        return raw
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw) and raw[i + 1] in _NGX_ESCAPES:
            out.append(_NGX_ESCAPES[raw[i + 1]])
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


def _lua_block_end(text, i):
    """The index of the `}` that closes a Lua block whose `{` is just before i (lua-nginx-module reads its body as
    Lua, not as nginx words): braces counted outside Lua strings, long brackets and comments; len(text) if none."""
    depth, n = 1, len(text)
    while i < n:
        char = text[i]
        if text.startswith("--", i):
            long_comment = re.match(r"--\[(=*)\[", text[i:i + 64])
            if long_comment:
                close = text.find("]%s]" % long_comment.group(1), i)
                i = n if close < 0 else close + len(long_comment.group(1)) + 2
            else:
                newline = text.find("\n", i)
                i = n if newline < 0 else newline
            continue
        long_string = re.match(r"\[(=*)\[", text[i:i + 64]) if char == "[" else None
        if long_string:
            close = text.find("]%s]" % long_string.group(1), i)
            i = n if close < 0 else close + len(long_string.group(1)) + 2
        elif char in "\"'":
            i += 1
            while i < n and text[i] != char and text[i] != "\n":
                i += 2 if text[i] == "\\" else 1
            i += 1
        else:
            depth += char == "{"
            depth -= char == "}"
            if depth == 0:
                return i
            i += 1
    return n


def nginx_tokens(text):
    """[(value, is_word, line)] of an nginx file, as nginx reads it (ngx_conf_read_token): words (quoted or not) and
    the punctuation `{`, `}` and `;`. A word ends at a blank, `;` or `{` -- not at a `{` right after `$` (`${name}`),
    and never at `}` or `#`, which are plain characters inside a word; a backslash keeps the next character in the
    word; a quoted word ends at its own quote. '#' starts a comment only where a word could start. The body of a
    `*_by_lua_block` (lua-nginx-module) is Lua, skipped whole."""
    tokens, i, n, line = [], 0, len(text), 1
    while i < n:
        char = text[i]
        if char == "\n":
            line += 1
            i += 1
        elif char in _NGX_BLANKS:
            i += 1
        elif char == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif char in "{};":
            tokens.append((char, False, line))
            i += 1
            if char == "{" and len(tokens) > 1 and tokens[-2][1] and tokens[-2][0].endswith("_lua_block"):
                close = _lua_block_end(text, i)
                line += text.count("\n", i, close)
                i = close
        elif char in "\"'":
            j, start = i + 1, line
            while j < n and text[j] != char:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                if text[j] == "\n":
                    line += 1
                j += 1
            tokens.append((_ngx_unescape(text[i + 1:j]), True, start))
            i = j + 1
        else:
            j, variable = i, False
            while j < n:
                c = text[j]
                if c == "\\" and j + 1 < n:
                    j += 2
                    variable = False
                    continue
                if c in _NGX_BLANKS or c == ";" or (c == "{" and not variable):
                    break
                variable = c == "$" or (c == "{" and variable)
                j += 1
            tokens.append((_ngx_unescape(text[i:j]), True, line))
            i = j
    return tokens


def nginx_tree(path, source, prefix, depth=0, stack=(), nesting=0, strict=False):
    """An nginx file as [{name, args, file, line, children}] (children None for a simple directive), includes read
    in place. Bounded: MAX_INCLUDE_DEPTH includes deep, MAX_BLOCK_DEPTH blocks deep counted across includes (the
    walks over the tree recurse per block), an include cycle is an error. A stray `}` is ignored, and so are words
    left without their `;` when a block closes; `strict`: those, and a file that ends inside a block or a directive,
    are an INVALID_CONFIG error, as nginx refuses them."""
    if depth > MAX_INCLUDE_DEPTH:
        raise CertError("INVALID_CONFIG", "include nesting deeper than %d at %s" % (MAX_INCLUDE_DEPTH, path))
    stack = stack + (path,)
    root = []
    open_blocks = [root]
    words = []
    for value, is_word, line in nginx_tokens(source.read(path)):
        if is_word:
            words.append((value, line))
            continue
        current = open_blocks[-1]
        if strict and value in ";{" and not words:
            raise CertError("INVALID_CONFIG", "%s line %d: unexpected \"%s\" with no directive before it: nginx "
                            "refuses this configuration" % (path, line, value))
        if value == ";":
            if words and words[0][0] == "include" and len(words) > 1:
                for included in source.glob(_absolute(words[1][0], prefix)):
                    if included in stack:
                        raise CertError("INVALID_CONFIG", "include cycle: %s includes %s again" % (path, included))
                    current.extend(nginx_tree(included, source, prefix, depth + 1, stack,
                                              nesting + len(open_blocks) - 1, strict))
            elif words:
                current.append({"name": words[0][0], "args": [w for w, _l in words[1:]], "file": path,
                                "line": words[0][1], "children": None})
            words = []
        elif value == "{":
            if nesting + len(open_blocks) > MAX_BLOCK_DEPTH:
                raise CertError("INVALID_CONFIG", "blocks nested deeper than %d in %s" % (MAX_BLOCK_DEPTH, path))
            block = {"name": words[0][0] if words else "", "args": [w for w, _l in words[1:]], "file": path,
                     "line": words[0][1] if words else line, "children": []}
            current.append(block)
            open_blocks.append(block["children"])
            words = []
        else:  # "}": words without their ';' end with the block (nginx refuses them), and a stray one is skipped
            if strict and (words or len(open_blocks) == 1):
                raise CertError("INVALID_CONFIG", "%s line %d: unexpected \"}\"%s: nginx refuses this configuration"
                                % (path, line, " after %r without its \";\"" % words[0][0] if words else ""))
            if len(open_blocks) > 1:
                open_blocks.pop()
            words = []
    if strict and (words or len(open_blocks) > 1):
        raise CertError("INVALID_CONFIG", "%s: unexpected end of file, expecting %s: nginx refuses this configuration"
                        % (path, "\";\" or \"}\"" if words else "\"}\""))
    return root


_NGINX_INHERITED = ("ssl_certificate", "ssl_certificate_key")


def _ngx_socket(value):
    """A listen value -> the listening socket it names, as nginx shares one between servers: (host, port), with
    a wildcard host as "*", an IP address in its one spelling ([0:0:0:0:0:0:0:1] is [::1]) and a missing port as
    80. A host name as this host resolves it (_listen_host: nginx resolves it when it starts, so `localhost:443` is
    the socket of `127.0.0.1:443`), else as written."""
    value = value.strip()
    if value.startswith("["):
        host, _sep, port = value[1:].partition("]")
        port = port[1:] if port.startswith(":") else "80"
    elif port_number(value):
        host, port = "*", value
    else:
        host, sep, port = value.rpartition(":")
        if not sep or not port_number(port):
            host, port = value, "80"
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        host = host if host in ("*", "") else _listen_host(host)
    return ("*" if host in ("*", "0.0.0.0") else host), port


_NGX_SOCKET_OPTIONS = ("ssl", "proxy_protocol")


def _ngx_socket_options(directives, found=None):
    """{listening socket: {"ssl", "proxy_protocol"}}: nginx applies a `listen ... ssl` or `... proxy_protocol` to
    the socket, and so to every server that listens there, whichever of their listen lines says it."""
    found = {} if found is None else found
    for directive in directives:
        if directive["name"] == "listen" and directive["args"]:
            options = found.setdefault(_ngx_socket(directive["args"][0]), set())
            options.update(o for o in directive["args"][1:] if o in _NGX_SOCKET_OPTIONS)
        if directive["children"]:
            _ngx_socket_options(directive["children"], found)
    return found


def _ngx_default_ssl(directives, sockets, inherited=None, defaults=None):
    """Adds "ssl" to each listening socket whose default server (the one whose listen says `default_server`, else the
    first to listen there) has `ssl on`, its own or its http block's: nginx decides TLS per socket from its default
    server (ngx_http_init_connection), so a server of that socket with no `ssl` of its own answers over TLS too."""
    top = defaults is None
    defaults = {} if top else defaults  # socket -> (its server says default_server, that server has ssl on)
    local = inherited
    for directive in directives:
        if directive["name"] == "ssl" and directive["args"]:
            local = directive["args"][0].lower() == "on"
    for directive in directives:
        if directive["children"] is None:
            continue
        if directive["name"] != "server":
            _ngx_default_ssl(directive["children"], sockets, local, defaults)
            continue
        own = [d["args"][0].lower() == "on" for d in directive["children"] if d["name"] == "ssl" and d["args"]]
        ssl_on = own[-1] if own else bool(local)
        for listen in (d["args"] for d in directive["children"] if d["name"] == "listen" and d["args"]):
            socket, explicit = _ngx_socket(listen[0]), "default_server" in listen[1:] or "default" in listen[1:]
            if socket not in defaults or (explicit and not defaults[socket][0]):
                defaults[socket] = (explicit, ssl_on)
    if top:
        for socket, (_explicit, ssl_on) in defaults.items():
            if ssl_on:
                sockets.setdefault(socket, set()).add("ssl")
    return sockets


def _ngx_values(directives, inherited):
    """The values a block holds or inherits: `ssl` (its last word), and ssl_certificate and ssl_certificate_key as
    lists (nginx loads each certificate given, one of each key type served): a block with any of its own replaces
    the whole inherited list, as nginx merges array directives."""
    local = dict(inherited)
    own = {}
    for directive in directives:
        if directive["name"] in _NGINX_INHERITED and directive["args"]:
            own.setdefault(directive["name"], []).append(directive["args"][0])
        elif directive["name"] == "ssl" and directive["args"]:
            local["ssl"] = directive["args"][0]
    local.update(own)
    return local


def _ngx_servers(directives, found=None):
    """[(a server block's directives, the listening sockets of its listens, its server names, the sockets where its
    listen says default_server)] in configuration order: what decides which server a name reaches on a socket."""
    found = [] if found is None else found
    for directive in directives:
        if directive["children"] is None:
            continue
        if directive["name"] == "server":
            children = directive["children"]
            listens = [d["args"] for d in children if d["name"] == "listen" and d["args"]]
            found.append((children, {_ngx_socket(args[0]) for args in listens},
                          [n for d in children if d["name"] == "server_name" for n in d["args"]],
                          {_ngx_socket(args[0]) for args in listens if {"default_server", "default"} & set(args[1:])}))
        else:
            _ngx_servers(directive["children"], found)
    return found


def _ngx_defaults(servers):
    """{listening socket: the directives of its default server}: the server whose listen there says default_server,
    else the first to listen there. A client that sends no name, or a name no server of the socket has, gets its
    certificate. None for a socket whose default is not known here (_named_socket_doubt)."""
    defaults = {}
    for children, _listening, _names, marked in servers:
        for key in marked:
            defaults.setdefault(key, children)
    for children, listening, _names, _marked in servers:
        for key in listening:
            defaults.setdefault(key, children)
    doubtful = _named_socket_doubt(defaults)
    return {key: None if key in doubtful else server for key, server in defaults.items()}


def _named_socket_doubt(sockets):
    """The sockets ((host, port), "*" for any address) whose servers are not known here: a host name this host did
    not resolve (_listen_host) is resolved by the server when it starts, so a socket written with one may be the
    socket of another address of its port, and that address's socket its."""
    by_port = {}
    for key in sockets:
        if key[0] != "*" and not key[0].startswith("unix:"):  # a unix socket is a socket of its own
            by_port.setdefault(key[1], []).append(key)
    doubtful = set()
    for keys in by_port.values():
        if len(keys) > 1 and not all(is_ip(host) for host, _port in keys):
            doubtful.update(keys)
    return doubtful


def _nginx_walk(directives, inherited, config_file, prefix, sites, sockets=None, servers=((), None, {})):
    """servers: (_ngx_servers, _ngx_defaults, _ngx_served) of the whole configuration."""
    # http-level values: servers inherit them (`ssl on` too: deprecated, and nginx 1.22 still applies it)
    local = _ngx_values(directives, inherited)
    for directive in directives:
        if directive["children"] is None:
            continue
        if directive["name"] == "server":
            _nginx_server(directive["children"], local, config_file, prefix, sites, sockets or {}, servers)
        else:
            _nginx_walk(directive["children"], local, config_file, prefix, sites, sockets, servers)


def _ngx_kept(name, exact, head, tail):
    """Whether nginx keeps a server_name entry (lowercase) on a socket, after the entries it registered there before
    (exact, head, tail: sets of keys, updated here). It refuses an entry whose key an earlier entry of the socket
    registered, of its own server too ("conflicting server name ... ignored", ngx_hash_add_key): an exact name by the
    same name; `*.a.test` by `*.a.test` or `.a.test`; `www.a.*` by `www.a.*`; `.a.test` by either of its halves. It
    registers a.test for `.a.test` before it checks the wildcard half, so a refused `.a.test` still refuses a later
    a.test (held to nginx 1.22: no server then answers to a.test)."""
    if name.startswith("."):
        if name[1:] in exact:
            return False
        exact.add(name[1:])
        key, registry = name[1:], head
    elif name.startswith("*."):
        key, registry = name[2:], head
    elif name.endswith(".*"):
        key, registry = name[:-2], tail
    else:
        key, registry = name, exact
    if key in registry:
        return False
    registry.add(key)
    return True


def _ngx_served(servers):
    """{(id of a server block's directives, listening socket): its server_name entries nginx keeps there (_ngx_kept),
    as written}, each socket's servers taken in configuration order. Regular expressions never conflict. A name with
    a trailing dot or a port (`a.test.`, `a.test:443`) is kept as written, but no client's name is compared with it
    that way (nginx strips both from the name a client sends): it reaches nothing (held to nginx 1.22)."""
    served, registries = {}, {}
    for children, listening, names, _marked in servers:
        for socket in listening:
            exact, head, tail = registries.setdefault(socket, (set(), set(), set()))
            served[id(children), socket] = [
                written for written in names if not written or written.startswith("~") or (_ngx_kept(
                    gethostname().lower() if written == "$hostname" else written.lower(), exact, head, tail)
                    and not written.endswith(".") and ":" not in written)]
    return served


def _ngx_unnamed(directives, names, tls_listen, defaults, refused=()):
    """For a server no name a probe can send reaches (_ngx_probe): (its TLS listens where it is the socket's default
    server, so a probe without a name reaches it, None) - or, where it is the default server of none, ([], the
    NO_PROBE_NAME error): a probe without a name would get another server's certificate there. refused: its names
    nginx ignores there (_ngx_served)."""
    reached = [item for item in tls_listen if defaults.get(_ngx_socket(item)) is directives]
    if reached:
        return reached, None
    sockets = ", ".join(sorted({"%s:%s" % _ngx_socket(item) for item in tls_listen}))
    if any(defaults.get(_ngx_socket(item), directives) is None for item in tls_listen):
        sockets += (" (or its default is not known here: a listen written with a host name, which nginx resolves "
                    "when it starts, shares its port with another address)")
    unmatched = [n for n in refused if n.endswith(".") or ":" in n]
    conflicting = [n for n in refused if n not in unmatched]
    if refused:
        why = "; ".join(([
            "nginx ignores its server names %s there, each a conflicting server name (a server before it, or this "
            "one, has the name already; nginx warns when it starts)" % " ".join(conflicting)] if conflicting else [])
            + (
            ["no client's name is compared with %s (nginx strips a trailing dot and a port from the name a client "
             "sends)" % " ".join(unmatched)] if unmatched else []))
    elif any(n.startswith("~") for n in names):
        why = ("no name was found that its regular expressions match and no other server of its sockets takes "
               "first (an expression this collection does not walk, or whose example another server takes)")
    else:
        why = ("it has no host name a client can send (server_name %s), so only a client that sends no name, or a name "
               "no server has, reaches it, and those get the default server" % (" ".join(names) or '""'))
    return [], {"code": "NO_PROBE_NAME", "message": (
        "not probed: %s; it is not the default server of %s (the first server to listen there, or the one whose "
        "listen says default_server), so a probe would get another server's certificate" % (why, sockets))}


def _ngx_probe(directives, names, tls_listen, servers, served):
    """(the SNI that reaches this server, its TLS listens with the one it reaches it at first, []), or (None, its TLS
    listens, its names nginx ignores on their sockets) when no name does. On each socket, in the order of its
    listens, the names nginx keeps for it there (_ngx_served) decide: the first a client can send, or one a wildcard
    matches (_probe_name); else one its regular expressions match that no other server of the socket takes first
    (ngx_regex_probe_name)."""
    refused = []
    for item in tls_listen:
        socket = _ngx_socket(item)
        kept = served.get((id(directives), socket), names)
        refused.extend(n for n in names if n not in kept and n not in refused)
        name = _probe_name(kept)
        if name is None and any(n.startswith("~") for n in kept):
            others, before = [], True
            for children, theirs, their_names, _marked in servers:
                if children is directives:
                    before = False
                elif socket in theirs:
                    others.append((served.get((id(children), socket), their_names), before))
            name = ngx_regex_probe_name(kept, others)
        if name is not None:
            return name, [item] + [other for other in tls_listen if other is not item], []
    return None, tls_listen, refused


def _nginx_server(directives, inherited, config_file, prefix, sites, sockets, servers=((), None, {})):
    listen, tls_listen, names, values = [], [], [], _ngx_values(directives, inherited)
    for name, args in ((d["name"], d["args"]) for d in directives):
        if name == "listen" and args:
            listen.append(args[0])
            if "ssl" in args[1:] or "ssl" in sockets.get(_ngx_socket(args[0]), ()):
                tls_listen.append(args[0])
        elif name == "server_name":
            names.extend(args)
    # (`ssl on`, its own or inherited, makes a socket TLS where its server is the socket's default: _ngx_default_ssl;
    # on a socket whose default is plain it is plain, held to nginx 1.22)
    if not tls_listen or not values.get("ssl_certificate"):
        return
    keys = values.get("ssl_certificate_key") or []
    probe_name, unnamed, sni = None, None, True
    claimed = {(host, int(port)) for host, port in sockets if host != "*" and port_number(port)}
    # a unix socket, or an IPv6 wildcard ::1 does not reach (_unclaimed_ipv6): no probe goes there
    tcp = [item for item in tls_listen if _listen_address(item)]
    tls_listen = [item for item in tcp
                  if not (_ipv6_wildcard(item) and _unclaimed_ipv6(_listen_address(item)[1], claimed) is None)]
    if not tls_listen and tcp:
        unnamed = _ipv6_unreached(tcp)
    if tls_listen:
        probe_name, tls_listen, refused = _ngx_probe(directives, names, tls_listen, servers[0], servers[2])
        if probe_name is None and servers[1] is not None:
            tls_listen, unnamed = _ngx_unnamed(directives, names, tls_listen, servers[1], refused)
            sni = False  # reached without a name, where it is reached at all
    group = []
    for index, written in enumerate(values["ssl_certificate"]):
        key_written = keys[index] if index < len(keys) else None  # nginx -t refuses a certificate without its key
        cert = _absolute(written, prefix)
        key = _absolute(key_written, prefix) if key_written else cert
        error = unnamed
        # nginx >= 1.15.9 resolves variables in these per handshake (e.g. $ssl_server_name): no file to read.
        if "$" in key and key_written:
            error, key = dynamic_error("nginx", "ssl_certificate_key", key_written), None
        if "$" in cert:
            error, cert, key = dynamic_error("nginx", "ssl_certificate", written), None, None
        if unnamed and cert:  # not probed: it says why the site is a person's, even with a key path unknown here
            error = unnamed
        group.append(make_site("nginx", config_file, names, listen, cert, key, None, error, sni=sni,
                               proxied=[item for item in listen
                                        if "proxy_protocol" in sockets.get(_ngx_socket(item), ())],
                               tls_listen=tls_listen, probe_name=probe_name, claimed=claimed))
    sites.extend(certificate_group(group))


def nginx_sites(main, source, prefix=None):
    """Sites of an nginx configuration whose main file is `main` (relative paths: its directory)."""
    source.reads = 0
    prefix = prefix or os.path.dirname(main)
    sites = []
    tree = nginx_tree(main, source, prefix)
    sockets = _ngx_default_ssl(tree, _ngx_socket_options(tree))
    servers = _ngx_servers(tree)
    _nginx_walk(tree, {}, main, prefix, sites, sockets, (servers, _ngx_defaults(servers), _ngx_served(servers)))
    return sites


# ---------------------------------------------------------------- Apache

_AP_SPACE = " \t\n\v\f\r"  # apr_isspace in the C locale: no other character (a no-break space) separates words


def apache_lines(text):
    """(first line number, logical line) of an Apache configuration file, as Apache reads it (ap_cfg_getline;
    measured with Apache 2.4.71): a physical line ends at a newline (a carriage return before it dropped); one that
    ends in a backslash goes on with the next physical line, joined as written (that backslash dropped, nothing
    added, the next line's indentation kept), except the last line of a file without a final newline. The logical
    line loses leading and trailing whitespace; one that then starts with # is a comment, so a comment ending in a
    backslash takes the next line with it, as in Apache (one ending in a backslash and a space does not)."""
    physical = text.split("\n")
    buf, start = "", None
    for number, raw in enumerate(physical, start=1):
        last = number == len(physical)
        content = raw[:-1] if not last and raw.endswith("\r") else raw
        start = start or number
        if content.endswith("\\") and not last:
            buf += content[:-1]
            continue
        line, buf, first, start = (buf + content).strip(_AP_SPACE), "", start, None
        if line and not line.startswith("#"):
            yield first, line


def _apache_word(text, i):
    """(the word at text[i:], where the next one starts) as Apache's ap_getword_conf reads it (see apache_words)."""
    n = len(text)
    if i >= n:  # nothing left (a line a ${VAR} emptied, a lone "<"): the empty word
        return "", n
    quote = text[i] if text[i] in "\"'" else None
    start = j = i + 1 if quote else i
    while j < n and (text[j] != quote if quote else text[j] not in _AP_SPACE):
        j += 2 if quote and text[j] == "\\" and j + 1 < n and text[j + 1] in (quote, "\\") else 1
    raw, out, k = text[start:j], [], 0
    while k < len(raw):  # substring_conf: a backslash before a backslash (or, quoted, the quote) stands for it
        if raw[k] == "\\" and k + 1 < len(raw) and (raw[k + 1] == "\\" or (quote and raw[k + 1] == quote)):
            k += 1
        out.append(raw[k])
        k += 1
    return "".join(out), (j + 1 if quote and j < n else j)


def apache_words(text):
    """The words of an Apache directive line, as ap_getword_conf reads them (measured with Apache 2.4.71): separated
    by ASCII whitespace only; a word quoted with " or ' runs to the same quote, or to the end of the line when it is
    not closed, and ends there even when another word follows without a space ("a"b is two words); inside quotes a
    backslash before the quote or a backslash stands for that character, outside only before a backslash."""
    words, i = [], 0
    while True:
        while i < len(text) and text[i] in _AP_SPACE:
            i += 1
        if i >= len(text):
            return words
        word, i = _apache_word(text, i)
        words.append(word)


def apache_directive(line):
    """A logical line -> (its first word, the rest as written): the directive, then what apache_words reads."""
    word, end = _apache_word(line, 0)
    return word, line[end:]


def _apache_section(rest):
    """The arguments of a section's opening tag (`<Proxy "url">`): up to its last '>', as mod_proxy and core cut
    them before reading the words."""
    cut = rest.rfind(">")
    return rest[:cut] if cut >= 0 else rest


_APACHE_VAR = re.compile(r"\$\{[^}]+\}")


class _ApacheState:
    def __init__(self, source, server_root, defines):
        self.source = source
        self.server_root = server_root
        self.defines = defines
        self.listen = []
        self.globals = {}
        self.vhosts = []
        self.proxy_protocol = []  # (on?, the VirtualHost's addresses, or None: the main server's, every address)
        # the parameters <IfDefine> tests: those given (as httpd's -D) and Define'd (one or two arguments) are
        # defined, those UnDefine'd are not; any other is unknown here (httpd's own -D flags, as Gentoo's and SUSE's
        # `-D SSL`, are not known), and its section is read as if its test held
        self.parameters = set(self.defines)
        self.undefined = set()
        self.main_names = []  # the main server's ServerName

    def expand(self, value):
        return re.sub(r"\$\{([^}]+)\}", lambda m: self.defines.get(m.group(1), os.environ.get(m.group(1), m.group(0))),
                      value)


def _apache_file(path, state, vhost, depth, stack=()):
    if depth > MAX_INCLUDE_DEPTH:
        raise CertError("INVALID_CONFIG", "Include nesting deeper than %d at %s" % (MAX_INCLUDE_DEPTH, path))
    stack = stack + (path,)
    skipping = 0  # how deep inside an <IfDefine> section whose test fails (Apache reads none of it)
    for _number, written in apache_lines(state.source.read(path)):
        line = state.expand(written)  # 3: Apache resolves ${VAR} in the whole line before reading its words
        if line[:10].lower() == "<ifdefine " or line[:10].lower() == "<ifdefine\t":
            if skipping:
                skipping += 1
            else:
                test = _apache_section(apache_directive(line[1:])[1]).strip()
                negated = test.startswith("!")
                name = test[1:] if negated else test  # Apache takes one '!'; `!!X` tests a parameter named !X
                known = name in state.parameters or name in state.undefined
                skipping = int(known and (name in state.parameters) == negated)
            continue
        if skipping:
            skipping -= int(line[:11].lower() == "</ifdefine>")
            continue
        if line.startswith("</"):
            if line[2:].lower().startswith("virtualhost") and vhost is not None:
                state.vhosts.append(vhost)
                vhost = None
            continue
        if line.startswith("<"):
            tag, rest = apache_directive(line[1:])
            if tag.lower() == "virtualhost":
                vhost = {"addresses": apache_words(_apache_section(rest)), "file": path, "names": [],
                         "servername": None}
            continue
        word, rest = apache_directive(line)
        key, args = word.lower(), apache_words(rest)
        if not args:
            continue
        if key in ("include", "includeoptional"):
            for included in state.source.glob(_absolute(args[0], state.server_root), recursive=True):
                if included in stack:
                    raise CertError("INVALID_CONFIG", "Include cycle: %s includes %s again" % (path, included))
                vhost = _apache_file(included, state, vhost, depth + 1, stack)
        elif key == "define":
            state.parameters.add(args[0])
            state.undefined.discard(args[0])
            if len(args) > 1:
                state.defines[args[0]] = args[1]
        elif key == "undefine":
            state.parameters.discard(args[0])
            state.undefined.add(args[0])
            state.defines.pop(args[0], None)
        elif key == "serverroot":
            state.server_root = args[0]
        elif key == "listen":
            state.listen.append(args[0])
        elif key in ("servername", "serveralias") and vhost is not None:
            if key == "servername" and vhost["servername"] is not None:  # Apache keeps the last one
                vhost["names"].remove(vhost["servername"])
            vhost["names"].extend(_ap_server_name(a) if key == "servername" else a for a in args)
            if key == "servername":
                vhost["servername"] = _ap_server_name(args[0])
        elif key == "servername":
            state.main_names = [_ap_server_name(args[0])]
        elif key in ("sslengine", "sslcertificatechainfile"):
            (vhost if vhost is not None else state.globals)[key] = args[0]
        elif key in ("sslcertificatefile", "sslcertificatekeyfile"):  # each given is loaded: lists
            (vhost if vhost is not None else state.globals).setdefault(key, []).append(args[0])
        elif key == "remoteipproxyprotocol":
            state.proxy_protocol.append((args[0].lower() == "on", vhost["addresses"] if vhost is not None else None))
    return vhost


def _ap_server_name(value):
    """A ServerName's host: `[scheme://]name[:port]` as Apache writes it (an IPv6 literal in brackets kept whole)."""
    value = value.split("://", 1)[1] if "://" in value else value
    if value.startswith("["):
        return value[:value.find("]") + 1] if "]" in value else value
    return value.split(":")[0]


def _ap_socket(address):
    """A VirtualHost address -> (host, port) as Apache resolves it, "*" standing for any (*, _default_ and 0.0.0.0
    are all 0.0.0.0 to Apache, and so is [::]; no port is port 0), an IP address in its one spelling; a host name as
    this host resolves it (_listen_host: Apache resolves it when it starts, so `localhost:443` is `127.0.0.1:443`),
    else as written. None, the main server's own line, is 0.0.0.0:0."""
    if address is None:
        return "*", "*"
    address = address.strip()
    if address.startswith("["):
        host, _sep, port = address[1:].partition("]")
        port = port[1:]
    else:
        host, _sep, port = address.rpartition(":") if ":" in address else (address, "", "")
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        host = host if host in ("*", "_default_", "") else _listen_host(host)
    host = "*" if host in ("*", "_default_", "", "0.0.0.0", "::") else host
    return host, port if port_number(port) else "*"


def _ap_proxy_lists(settings):
    """([On addresses], [Off addresses]) as mod_remoteip keeps them, from the RemoteIPProxyProtocol lines in order:
    each adds the addresses of the server it stands in (None: the main server's, every address) to its list and
    takes the very same address out of the other one (AH03491 "is being overridden"): for one address the later
    line wins."""
    lists = {True: [], False: []}
    for on, addresses in settings:
        for key in [_ap_socket(a) for a in (addresses if addresses is not None else [None])]:
            lists[not on] = [k for k in lists[not on] if k != key]
            if key not in lists[on]:
                lists[on].append(key)
    return lists[True], lists[False]


def _ap_proxied(state, address):
    """Whether Apache (mod_remoteip) expects a PROXY protocol header on connections to this VirtualHost address.

    Measured with Apache 2.4.71 (tests/integration/test_discovery_proxy_protocol.py): `RemoteIPProxyProtocol On` in
    a VirtualHost turns it on for the addresses it listens on, whichever of the VirtualHosts there is asked for; in
    the main server, for every address; an `Off` that covers the address (in the main server, or for an address
    that covers it) wins over an `On`, except that for the very same address the later line wins (_ap_proxy_lists).
    """
    host, port = _ap_socket(address)

    def covers(key):
        return (key[0] in ("*", host) or host == "*") and (key[1] in ("*", port) or port == "*")

    on, off = _ap_proxy_lists(state.proxy_protocol)
    return any(map(covers, on)) and not any(map(covers, off))


def _ap_inherited(vhost, main_names):
    """The ServerName a VirtualHost without its own has: the main server's when any of its addresses is any address
    (`*`, `_default_`, `[::]`); on IP addresses only, Apache names it by a reverse lookup of the first, not made here
    (None); None too for the main server itself and one with its own."""
    if "servername" not in vhost or vhost["servername"] or not main_names:
        return None
    return main_names[0] if any(_ap_socket(address)[0] == "*" for address in vhost["addresses"]) else None


def _ap_names(vhost, main_names):
    """The names mod_ssl compares a client's SNI with for a VirtualHost: its ServerName, else the one it inherits
    (_ap_inherited), and its ServerAlias names (wildcards as written)."""
    inherited = _ap_inherited(vhost, main_names)
    return [n.lower() for n in ([inherited] if inherited else []) + vhost["names"]]


def _ap_socket_names(on_socket, main_names):
    """{socket: (the place of the first VirtualHost of each exact name, of each leading wildcard's suffix (`*.b.test`:
    `.b.test`), [(place, any other ServerAlias wildcard)], {id of a VirtualHost: its place})}: what _ap_taken asks,
    built once (a server may have thousands of VirtualHosts)."""
    index = {}
    for key, vhosts in on_socket.items():
        exact, leading, wild, place = {}, {}, [], {}
        for position, vhost in enumerate(vhosts):
            place.setdefault(id(vhost), position)
            for name in _ap_names(vhost, main_names):
                if name.startswith("*.") and not any(c in name[1:] for c in "*?["):
                    leading.setdefault(name[1:], position)
                elif any(c in name for c in "*?"):
                    wild.append((position, name))
                else:
                    exact.setdefault(name, position)
        index[key] = (exact, leading, wild, place)
    return index


def _ap_taken(names, vhost, name):
    """Whether a VirtualHost before this one on a socket (names: its _ap_socket_names entry) takes this SNI, as
    mod_ssl looks the name up: the first whose ServerName or ServerAlias is the name, or a wildcard matching it (a
    `*` matches dots too)."""
    exact, leading, wild, place = names
    mine = place[id(vhost)]
    return exact.get(name, mine) < mine or any(
        leading.get(name[i:], mine) < mine for i in range(1, len(name)) if name[i] == ".") or any(
        position < mine and fnmatch.fnmatchcase(name, pattern) for position, pattern in wild)


def _ap_candidates(vhost, main_names):
    """The SNI names a probe may send to reach a VirtualHost, in order: its own names a client can send, a name each
    of its leading wildcards (`ServerAlias *.b.test`) matches, then the name it inherits (_ap_inherited)."""
    names = probe_candidates(vhost["names"]) + _sni_names([_ap_inherited(vhost, main_names) or ""])
    return [n.lower() for n in names]


def _ap_probe(vhost, on_socket, main_names, doubtful, names):
    """How a probe reaches a VirtualHost, as mod_ssl picks one for a client's SNI (the first of the address whose
    names take it, else the address's first): (the name to send, its addresses where no earlier VirtualHost takes
    that name, None) for the first of _ap_candidates that one of its addresses leaves to it; else (None, its
    addresses where it is the first VirtualHost, None), where a client that sends no name gets it; else (None, [],
    the NO_PROBE_NAME error): a probe would get another VirtualHost's certificate. A socket written with a host name
    not resolved here, where its port has other addresses (doubtful: _named_socket_doubt), is neither. names:
    _ap_socket_names."""
    sockets = {address: _ap_socket(address) for address in vhost["addresses"]}
    candidates = _ap_candidates(vhost, main_names)
    for name in candidates:
        named = [address for address, key in sockets.items()
                 if key not in doubtful and not _ap_taken(names[key], vhost, name)]
        if named:
            return name, named, None
    reached = [address for address, key in sockets.items() if key not in doubtful and on_socket[key][0] is vhost]
    if reached:
        return None, reached, None
    inherited = _ap_inherited(vhost, main_names)
    if any(key in doubtful for key in sockets.values()):
        why = ("its address is written with a host name, which Apache resolves when it starts and this host could "
               "not, and its port has other addresses: which VirtualHost a client gets there is not known here")
    elif candidates:
        why = "the names it answers to (%s) are taken by earlier VirtualHosts of its addresses" % ", ".join(
            n for n in [inherited] + vhost["names"] if n)
    elif vhost.get("servername"):
        why = "it has no host name a client can send (ServerName %s)" % vhost["servername"]
    elif main_names and not inherited:
        why = ("it has no ServerName, and on an IP address Apache names it by a reverse lookup of that address, "
               "which is not made here")
    else:
        why = ("it has no ServerName, and the main server has none either (Apache then takes this machine's name, "
               "which is not known here)")
    return None, [], {"code": "NO_PROBE_NAME", "message": (
        "not probed: %s; it is not the first VirtualHost of %s, which a client that sends no name, or a name no "
        "VirtualHost has, gets, so a probe would get another VirtualHost's certificate" % (
            why, ", ".join(vhost["addresses"])))}


def apache_sites(main, source, server_root=None, defines=None):
    """Sites of an Apache configuration tree: VirtualHost blocks with SSLEngine on."""
    source.reads = 0
    state = _ApacheState(source, server_root or os.path.dirname(main), dict(defines or {}))
    _apache_file(main, state, None, 0)
    sites = []
    vhosts = list(state.vhosts)
    # 3: a connection to a Listen address no VirtualHost covers is the main server's (with its own mod_ssl settings)
    covered = [_ap_socket(a) for v in vhosts for a in v["addresses"]]
    # 3: Apache answers a connection to an address some VirtualHost names with those of that address alone
    claimed = {(host, int(port)) for host, port in covered if host != "*" and port_number(port)}
    listened = {}  # port -> the IPv4 addresses Apache binds there, where it binds no wildcard
    for listen in state.listen:
        host, port = ("*", listen) if port_number(listen) else _ap_socket(listen)  # Listen 443: every address
        if host != "*" and is_ip(host) and ":" not in host and port_number(port) and \
                "*" not in listened.get(int(port), ()):  # an IPv4 address (IPv6, [::] included, is left alone)
            listened.setdefault(int(port), set()).add(host)
        elif port_number(port):
            listened[int(port)] = {"*"}
        # a VirtualHost on * (or _default_) for the port takes every address; one on an address, that address only
        if not any(key[1] in ("*", port) and (key[0] == "*" or key[0] == host) for key in covered):
            vhosts.append({"addresses": [listen], "file": main, "names": list(state.main_names)})
    listened = {port: hosts for port, hosts in listened.items() if "*" not in hosts}
    on_socket = {}  # socket -> its VirtualHosts in configuration order: the first is its default
    for vhost in vhosts:
        for address in vhost["addresses"]:
            on_socket.setdefault(_ap_socket(address), []).append(vhost)
    doubtful, names = _named_socket_doubt(on_socket), _ap_socket_names(on_socket, state.main_names)
    for vhost in vhosts:
        values = dict(state.globals)
        values.update({k: v for k, v in vhost.items() if k.startswith("ssl")})
        for key in ("sslcertificatefile", "sslcertificatekeyfile"):  # mod_ssl: the VirtualHost's Nth, else the
            own, base = vhost.get(key) or [], state.globals.get(key) or []  # main server's
            values[key] = own + base[len(own):]
        if values.get("sslengine", "").lower() != "on" or not values["sslcertificatefile"]:
            continue
        chain = values.get("sslcertificatechainfile")
        chain = _absolute(chain, state.server_root) if chain else None
        chain_error = None
        probe_name, tls_listen, unnamed = _ap_probe(vhost, on_socket, state.main_names, doubtful, names)
        # A ${VAR} left after expansion is neither Defined nor in our environment: Apache's may differ.
        if chain and _APACHE_VAR.search(chain):
            chain_error, chain = dynamic_error("apache", "SSLCertificateChainFile", chain), None
        group = []
        for index, written in enumerate(values["sslcertificatefile"]):
            keys = values["sslcertificatekeyfile"]
            cert = _absolute(written, state.server_root)
            key = _absolute(keys[index], state.server_root) if index < len(keys) else cert
            error = chain_error
            if _APACHE_VAR.search(key):
                error, key = dynamic_error("apache", "SSLCertificateKeyFile", key), None
            if _APACHE_VAR.search(cert):
                error, cert, key = dynamic_error("apache", "SSLCertificateFile", cert), None, None
            if unnamed and cert:  # not probed: it says why the site is a person's, even with a path unknown here
                error = unnamed
            group.append(make_site("apache", vhost["file"], vhost["names"], vhost["addresses"], cert, key, chain,
                                   error, proxied=[a for a in vhost["addresses"] if _ap_proxied(state, a)],
                                   claimed=claimed, listened=listened, tls_listen=tls_listen,
                                   probe_name=probe_name, sni=probe_name is not None))
        sites.extend(certificate_group(group))
    return sites


# ---------------------------------------------------------------- HAProxy

_HAPROXY_SECTIONS = ("global", "defaults", "frontend", "backend", "listen", "userlist", "peers",
                     "resolvers", "mailers", "program", "http-errors", "ring", "cache")
_HAPROXY_EXTRA_SUFFIXES = (".key", ".ocsp", ".issuer", ".sctl")


_HAPROXY_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]*\])?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


_HAPROXY_ESCAPES = {" ": " ", "\\": "\\", "#": "#", "'": "'", '"': '"', "t": "\t", "n": "\n", "r": "\r"}
_HEX = frozenset("0123456789abcdefABCDEF")


def _haproxy_escape(line, i, quote, buf):
    """The backslash at line[i] (outside single quotes), as HAProxy's parse_line reads it: \\<space>, \\\\, \\#, \\',
    \\" and \\t, \\n, \\r are the character they name, \\xHH the byte HH, \\$ a dollar inside double quotes; any
    other backslash stays in the word as written (\\. is a backslash and a dot). Appends to buf; returns how many
    characters were read. A \\x without two hex digits is a line HAProxy refuses: INVALID_CONFIG."""
    following = line[i + 1:i + 2]
    if following in _HAPROXY_ESCAPES:
        buf.append(_HAPROXY_ESCAPES[following])
        return 2
    if following == "$" and quote == '"':
        buf.append("$")
        return 2
    if following == "x":
        digits = line[i + 2:i + 4]
        if len(digits) < 2 or not set(digits) <= _HEX:
            raise CertError("INVALID_CONFIG", "truncated or invalid hexadecimal sequence %r: HAProxy refuses this "
                            "line" % line[i:i + 4])
        value = int(digits, 16)
        buf.append(chr(value) if value < 0x80 else chr(0xDC00 + value))  # a byte: _haproxy_word decodes them
        return 4
    buf.append("\\")
    return 1


def _haproxy_word(buf):
    """A word's characters as HAProxy hands the word on: the bytes of \\xHH escapes (0x80 and up, held as lone
    surrogates) decoded as UTF-8 with their neighbours, as FileSource decodes a file; cut at a NUL byte (\\x00),
    where HAProxy's C string ends."""
    word = "".join(buf)
    if any("\udc80" <= char <= "\udcff" for char in word):
        word = word.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return word.split("\0", 1)[0]


def _haproxy_words(line, env):
    """One haproxy.cfg line -> [(word, dynamic)], the way HAProxy splits it.

    Quotes and backslashes group and escape; an unquoted '#' starts a comment; "$VAR" / "${VAR}"
    are expanded inside double quotes only, from `setenv`/`presetenv` seen so far. Any other variable
    comes from HAProxy's own environment, which is not ours: the word is marked dynamic.
    """
    words, buf, dynamic, quote, started = [], [], False, None, False
    i, n = 0, len(line)
    while i < n:
        char = line[i]
        if quote is None and char in " \t":
            if started:
                words.append((_haproxy_word(buf), dynamic))
                buf, dynamic, started = [], False, False
        elif quote is None and char == "#":
            break
        elif char == "\\" and quote != "'":
            i += _haproxy_escape(line, i, quote, buf) - 1  # (and the 1 below)
            started = True
        elif quote is None and char in "\"'":
            quote, started = char, True
        elif char == quote:
            quote = None
        elif char == "$" and quote == '"' and _HAPROXY_VAR.match(line, i):
            match = _HAPROXY_VAR.match(line, i)
            name = match.group(1) or match.group(2)
            if name in env:
                buf.append(env[name])
            else:
                buf.append(match.group(0))
                dynamic = True
            i = match.end()
            continue
        else:
            buf.append(char)
            started = True
        i += 1
    if started:
        words.append((_haproxy_word(buf), dynamic))
    return words


_HA_COND_TOKEN = re.compile(r"\s*(\|\||&&|!|\(|\)|[A-Za-z_][A-Za-z0-9_]*\([^()]*\)|[^\s()!&|]+)")


def _ha_predicate(term, env):
    """One condition term of HAProxy's (cfgcond.c) as far as it can be decided here: True, False or None (unknown:
    what HAProxy's own environment, features or version decide)."""
    if term.isdigit():
        return int(term) != 0
    name, _paren, rest = term.partition("(")
    args = rest[:-1].split(",") if rest.endswith(")") else None
    if args is None:
        return None
    if name == "defined" and len(args) == 1:
        return True if args[0] in env else None  # (HAProxy's environment holds more than its setenv lines)
    if name in ("streq", "strneq") and len(args) == 2:
        return (args[0] == args[1]) == (name == "streq")
    return None


def ha_condition(words, env):
    """The value of an `.if`/`.elif` condition (its words after the directive, as _haproxy_words gives them): True,
    False, or None when it cannot be decided here (a dynamic word, an unknown predicate, HAProxy's environment).
    `!`, `&&`, `||` and parentheses as HAProxy 2.6 reads them, in three-valued logic."""
    if not words or any(dynamic for _word, dynamic in words):
        return None
    tokens = _HA_COND_TOKEN.findall(" ".join(word for word, _dynamic in words))
    if len(tokens) > 64:  # no condition a person writes; and the reading below recurses on each '(' and '!'
        return None
    position = [0]

    def peek():
        return tokens[position[0]] if position[0] < len(tokens) else None

    def take():
        position[0] += 1
        return tokens[position[0] - 1]

    def term():
        token = take() if peek() is not None else ")"
        if token == "!":
            value = term()
            return None if value is None else not value
        if token == "(":
            value = either()
            return value if take_if(")") else None
        if token in (")", "&&", "||"):
            return None
        return _ha_predicate(token, env)

    def take_if(token):
        if peek() == token:
            take()
            return True
        return False

    def both():
        values = [term()]
        while take_if("&&"):
            values.append(term())
        return False if False in values else None if None in values else True

    def either():
        values = [both()]
        while take_if("||"):
            values.append(both())
        return True if True in values else None if None in values else False

    value = either()
    return value if position[0] == len(tokens) else None


class HAConditions:
    """HAProxy's conditional blocks (`.if`, `.elif`, `.else`, `.endif`) as far as they can be decided here: skip(tokens)
    says whether a line is not read (a block HAProxy skips, or one of these directives, or `.notice` and the like);
    a block whose condition cannot be decided (ha_condition None) is read, as every branch was before."""

    def __init__(self, env):
        self.env = env
        self.blocks = []  # [state of the branch being read (True, False, None), a branch was taken, one may have been]

    def _active(self):
        return all(block[0] is not False for block in self.blocks)

    def skip(self, tokens):
        keyword = tokens[0][0] if tokens else ""
        if not keyword.startswith("."):
            return not self._active()
        if keyword == ".if":
            state = ha_condition(tokens[1:], self.env) if self._active() else False
            self.blocks.append([state, state is True, state is None])
        elif keyword in (".elif", ".else") and self.blocks:
            block = self.blocks.pop()
            state = ha_condition(tokens[1:], self.env) if keyword == ".elif" else True
            if block[1] or not self._active():
                state = False
            elif block[2] and state is not False:
                state = None  # an earlier branch may have been taken
            self.blocks.append([state, block[1] or state is True, block[2] or state is None])
        elif keyword == ".endif" and self.blocks:
            self.blocks.pop()
        return True


_HAPROXY_BUNDLE_SUFFIXES = (".dsa", ".ecdsa", ".rsa")  # in the order HAProxy loads them (SSL_SOCK_KEYTYPE_NAMES)
# a discovered HAProxy site's bind, until _collect has read its files: {"strict_sni": the bind refuses a client whose
# name no certificate holds (no default certificate), "filtered": its crt-list line has SNI filters (negative ones
# included), so the certificate's own names are not its names, "excluded": the names its line's negative filters
# take from its wildcards (lowercase)}
HAPROXY_BIND = "_haproxy_bind"


def _haproxy_crt_files(path, source):
    """The certificate files a `crt` path loads, in the order HAProxy loads them: a directory's files in name order
    (but the extra files beside them, and those whose name begins with a dot, which HAProxy skips), a
    multi-certificate bundle's `<path>.dsa`, `.ecdsa` and `.rsa` when the path itself does not exist (HAProxy's
    ssl-load-extra-files, `bundle` by default), else the path."""
    if source.files is None and os.path.isdir(path):
        return [p for p in source.glob(path)
                if not p.endswith(_HAPROXY_EXTRA_SUFFIXES) and not os.path.basename(p).startswith(".")]
    if not source.exists(path):
        bundle = [path + suffix for suffix in _HAPROXY_BUNDLE_SUFFIXES if source.exists(path + suffix)]
        if bundle:
            return bundle
    return [path]


def _haproxy_crt_list(path, resolve, source):
    """crt-list lines: '<crtfile> [ssl options] [sni filters...]' -> [(file, names, None, the names its negative
    filters exclude, or None for a line without filters: with any, they and not the certificate's own names are the
    names HAProxy knows it by)]; resolve: a relative file name -> the file HAProxy opens."""
    entries = []
    for raw in source.read(path).splitlines():
        parts = re.sub(r"\[[^\]]*\]", " ", raw).split()
        if not parts or parts[0].startswith("#"):
            continue
        names = [n for n in parts[1:] if not n.startswith("!")]
        for crt in _haproxy_crt_files(resolve(parts[0]), source):
            entries.append((crt, names, None, [n[1:].lower() for n in parts[1:] if n.startswith("!")]
                            if len(parts) > 1 else None))
    return entries


def _holds_key(path, source):
    """Whether a PEM file holds a private key block (its bytes are not kept, and the read is no configuration file's:
    it counts toward no include limit); False when it cannot be read."""
    if source.files is not None:
        return "PRIVATE KEY-----" in source.files.get(path, "")
    try:
        return b"PRIVATE KEY-----" in read_file(path, max_bytes=MAX_CONFIG_BYTES)
    except CertError:
        return False


def haproxy_sites(main, source):
    """Sites of an haproxy.cfg: every certificate of every `bind ... ssl crt|crt-list`."""
    source.reads = 0
    crt_base, key_base, env, paths = None, None, {}, HAProxyPaths(main)

    binds = []
    conditions = HAConditions(env)
    for raw in source.read(main).splitlines():
        tokens = _haproxy_words(raw.strip(), env)
        words = [w for w, _dynamic in tokens]
        if not words or conditions.skip(tokens) or words[0] in _HAPROXY_SECTIONS:
            continue
        if words[0] in ("setenv", "presetenv") and len(words) > 2 and not tokens[2][1]:
            if words[0] == "setenv" or words[1] not in env:
                env[words[1]] = words[2]
        elif words[0] == "crt-base" and len(words) > 1:
            crt_base = words[1]
        elif words[0] == "default-path":
            paths.set_default(words)
        elif words[0] == "key-base" and len(words) > 1:
            key_base = words[1]
        elif words[0] == "bind" and len(words) > 1 and "ssl" in words[2:]:
            binds.append(tokens[1:])
    sites = []
    for tokens in binds:
        listen = tokens[0][0].split(",")
        words = [word for word, _dynamic in tokens[1:]]
        entries = []
        for i, (word, _dynamic) in enumerate(tokens[:-1]):
            value, dynamic = tokens[i + 1]
            if word not in ("crt", "crt-list"):
                continue
            if dynamic:
                entries.append((None, [], dynamic_error("haproxy", word, value), None))
            elif word == "crt":
                entries.extend((crt, [], None, None)
                               for crt in _haproxy_crt_files(paths.absolute(value, crt_base), source))
            else:
                # crt-base is for the list's certificates, not the list (held to HAProxy 2.6 in a review)
                entries.extend(_haproxy_crt_list(paths.absolute(value),
                                                 lambda entry: paths.absolute(entry, crt_base), source))
        for crt, names, error, filtered in entries:
            key = None
            if crt:
                key = crt + ".key"
                if key_base:
                    key = _absolute(os.path.basename(crt) + ".key", key_base)
                # HAProxy reads <crt>.key only when the crt file holds no key of its own (ssl_sock_load_pem_into_ckch)
                key = key if source.exists(key) and not _holds_key(crt, source) else crt
            site = make_site("haproxy", main, names, listen, crt, key, None, error,
                             proxied=listen if "accept-proxy" in words else ())
            site[HAPROXY_BIND] = {"strict_sni": "strict-sni" in words, "filtered": filtered is not None,
                                  "excluded": filtered or []}
            sites.append(site)
    return sites


def discover(server_type, config, source=None):
    """Sites for one server type from its main config file (filesystem unless `source`)."""
    source = source or FileSource()
    if server_type == "nginx":
        return nginx_sites(config, source)
    if server_type == "apache":
        return apache_sites(config, source)
    if server_type == "haproxy":
        return haproxy_sites(config, source)
    raise CertError("INVALID_ARGUMENT", "unknown server type %r" % server_type)


def default_config(server_type):
    for candidate in DEFAULT_CONFIGS[server_type]:
        if os.path.exists(candidate):
            return candidate
    return DEFAULT_CONFIGS[server_type][0]
