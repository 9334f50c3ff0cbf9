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
import ipaddress
import itertools
import os
import re
import time
from socket import gethostname

from ansible_collections.certops.backend_tls.plugins.module_utils import _probe
from ansible_collections.certops.backend_tls.plugins.module_utils._base import (
    CertError,
    default_server_name,
    is_ip,
    port_number,
    read_file,
)
from ansible_collections.certops.backend_tls.plugins.module_utils._confread import (
    _APACHE_VAR,
    _HAPROXY_SECTIONS,
    MAX_CONFIG_BYTES,
    MAX_INCLUDE_DEPTH,
    FileSource,
    HAConditions,
    HAProxyPaths,
    _absolute,
    _apache_section,
    _ApacheState,
    _haproxy_words,
    apache_directive,
    apache_lines,
    apache_words,
    nginx_tree,
)


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

_HAPROXY_EXTRA_SUFFIXES = (".key", ".ocsp", ".issuer", ".sctl")


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
