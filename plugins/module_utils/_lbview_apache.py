# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The load balancer's view, Apache's part (lb-view.md section 3): the backends of an Apache configuration
(`ProxyPass`, `<Proxy balancer://>` `BalancerMember`, mod_ssl's SSLProxy* settings), as _lbview.lb_backends returns
them (_lbview.backend_item). Imported only for a run that reads Apache."""

from __future__ import annotations

import glob
import os
import re

from ansible_collections.certops.backend_tls.plugins.module_utils import _base, _confread
from ansible_collections.certops.backend_tls.plugins.module_utils._base import CertError
from ansible_collections.certops.backend_tls.plugins.module_utils._lbview import (
    CRL_CHECKS,
    MAX_COUNT_DIGITS,
    PROTOCOLS,
    _config_error,
    _count,
    _dynamic,
    _split_hostport,
    backend_item,
    cipher_list_problem,
)

_AP_SSL = ("sslproxyengine", "sslproxyverify", "sslproxyverifydepth", "sslproxycacertificatefile",
           "sslproxycacertificatepath", "sslproxycheckpeername", "sslproxycheckpeercn", "sslproxycheckpeerexpire",
           "sslproxymachinecertificatefile", "sslproxyprotocol", "sslproxyciphersuite", "proxypreservehost",
           "sslproxycarevocationfile", "sslproxycarevocationpath", "sslproxycarevocationcheck",
           "sslproxymachinecertificatepath", "sslproxymachinecertificatechainfile")
_AP_NAMES = {name.lower(): name for name in (  # as Apache's documentation writes them, for messages
    "SSLProxyEngine", "SSLProxyVerify", "SSLProxyVerifyDepth", "SSLProxyCACertificateFile",
    "SSLProxyCACertificatePath", "SSLProxyCheckPeerName", "SSLProxyCheckPeerCN", "SSLProxyCheckPeerExpire",
    "SSLProxyMachineCertificateFile", "SSLProxyProtocol", "SSLProxyCipherSuite", "ProxyPreserveHost",
    "SSLProxyCARevocationFile", "SSLProxyCARevocationPath", "SSLProxyCARevocationCheck",
    "SSLProxyMachineCertificatePath", "SSLProxyMachineCertificateChainFile")}
# 3: the sections of a request's per-directory configuration: mod_ssl takes its SSLProxy* directives only in the
# server, a VirtualHost or <Proxy> ("SSLProxyVerify not allowed in <Location> context"), mod_proxy its ProxyPass not
# in a directory's or a file's ("ProxyPass cannot occur within <Directory> section"); Apache does not start then
_AP_PER_DIR = ("location", "locationmatch", "directory", "directorymatch", "files", "filesmatch", "if", "elseif",
               "else")
_AP_NO_PASS = ("directory", "directorymatch", "files", "filesmatch")
_AP_SECTION_NAMES = {"locationmatch": "LocationMatch", "directorymatch": "DirectoryMatch", "filesmatch": "FilesMatch",
                     "elseif": "ElseIf"}
_AP_TLS_SCHEMES = ("https", "wss", "h2")
_AP_PLAIN_SCHEMES = ("http", "ws", "h2c")


class _ApacheScope:
    """The main server or one VirtualHost: its settings, ProxyPass lines and <Proxy> sections."""

    def __init__(self, name, file, line):
        self.name, self.file, self.line = name, file, line
        self.settings = {}  # lowercased directive -> (args, line, file)
        # (path, url, line, file, parameters, problem or None, kind: "pass" (ProxyPass outside <Location>), "location"
        # (ProxyPass inside <Location>, its path) or "match" (a regex: ProxyPassMatch, or inside <LocationMatch>))
        self.passes = []
        # ProxyPreserveHost inside <Location> (regex False) or <LocationMatch> (True): (path, regex, entry)
        self.location_settings = []
        # {url, settings, members: [(url, line, file)], section: a <Proxy> section (not a balancer named only by
        # BalancerMember), ssl: the section holds a mod_ssl directive}
        self.proxies = []
        self.listens = []  # the main server's Listen addresses


def apache_backends(main, source, server_root=None, defines=None):
    """Every backend of every ProxyPass / ProxyPassMatch / BalancerMember of an Apache configuration tree."""
    source.reads = 0
    state = _confread._ApacheState(source, server_root or os.path.dirname(main), dict(defines or {}))
    main_scope = _ApacheScope(None, main, None)
    scopes = [main_scope]
    ctx = {"scope": main_scope, "proxy": None, "location": None, "tags": [], "refused": None}
    _ap_file(main, state, ctx, scopes, 0, ())
    vhosts = scopes[1:]
    main_serves = _ap_main_serves(main_scope.listens, [v.name for v in vhosts])
    # 3: Apache does not start with a setting it refuses anywhere, used by a backend or not, overridden or not
    refused = ctx["refused"]
    main_workers = _ap_workers(main_scope)  # each server's workers made once: a file may hold thousands of lines
    workers = {id(scope): _ap_workers(scope, main_workers) if scope is not main_scope else main_workers
               for scope in scopes}
    items = []
    for scope in scopes:
        unused = _ap_unused_passes(scope.passes)
        for index, (path, url, line, file, _params, problem, kind) in enumerate(scope.passes):
            # 3: mod_proxy copies the main server's ProxyPass (and <Location> ProxyPass) into every VirtualHost
            # (merge_proxy_config), and a request through a VirtualHost connects with that VirtualHost's SSLProxy*
            # settings: one item per VirtualHost, and one for the main server only where it answers requests itself.
            servers = [scope] if scope is not main_scope else ([main_scope] if main_serves else []) + vhosts
            for server in servers:
                for item in _ap_pass(state, main_scope, server, path, url, line, file, kind):
                    if item["source"] == "ProxyPass":  # a worker: the parameters of the one Apache uses for it
                        item.update(_ap_member_status(_ap_worker_params(workers[id(server)], url), drain=False))
                    if index in unused:  # 3: Apache never sends it a request: as out of service (not judged)
                        item["disabled"] = True
                    if problem or refused:
                        item["error"] = _config_error(problem or refused)
                    items.append(item)
    return items


def _ap_address(text):
    """A Listen or VirtualHost address -> (address or None for every address, port or None for any port)."""
    host, port, _problem = _split_hostport(text, None)
    if host is None:
        return text, None
    if host in ("*", "_default_", "0.0.0.0", "::", ""):
        host = None
    if port is None and (text.isdigit() or text.endswith(":*")):
        port = _count(text) if text.isdigit() else None
        host = None if text.isdigit() else host
    return host, port


def _ap_main_serves(listens, vhost_names):
    """Whether the main server answers requests itself: Apache gives a connection to the VirtualHosts whose address
    matches its local address and port, and to the main server only when none does. Kept simple: the main server
    answers on a Listen address that no VirtualHost address covers (same port or any, same address or `*` /
    `_default_`); a VirtualHost named by a host name covers nothing here. No VirtualHost, or no Listen read: it does."""
    if not vhost_names or not listens:
        return True
    vhost_addresses = [_ap_address(a) for name in vhost_names for a in name.split()]
    for listen in listens:
        l_host, l_port = _ap_address(listen)
        if not any((v_port is None or v_port == l_port) and (v_host is None or v_host == l_host)
                   for v_host, v_port in vhost_addresses):
            return True
    return False


def _ap_file(path, state, ctx, scopes, depth, stack):
    if depth > _confread.MAX_INCLUDE_DEPTH:
        raise CertError("INVALID_CONFIG", "Include nesting deeper than %d at %s" % (_confread.MAX_INCLUDE_DEPTH, path))
    stack = stack + (path,)
    for line, written in _confread.apache_lines(state.source.read(path)):
        text = state.expand(written)  # 3: Apache resolves ${VAR} in the whole line before reading its words
        if text.startswith("</"):
            tag = text[2:].rstrip(">").strip().lower()
            if ctx["tags"]:
                ctx["tags"].pop()
            if tag == "virtualhost":
                ctx["scope"] = scopes[0]
            elif tag in ("proxy", "proxymatch"):
                ctx["proxy"] = None
            elif tag in ("location", "locationmatch"):
                ctx["location"] = None
            continue
        if text.startswith("<"):
            tag, rest = _confread.apache_directive(text[1:])
            tag = tag.lower()
            ctx["tags"].append(tag)
            args = _confread.apache_words(_confread._apache_section(rest))
            if tag == "virtualhost":
                ctx["scope"] = _ApacheScope(" ".join(args), path, line)
                scopes.append(ctx["scope"])
            elif tag == "proxy" and args:
                # 3: a balancer defined in pieces (two <Proxy balancer://p> sections, a BalancerMember naming it
                # outside) is one balancer of every member (ap_proxy_get_balancer finds the first definition):
                # each section keeps its own settings, all share its members
                known = _ap_balancer(ctx["scope"], args[0]) if args[0].lower().startswith("balancer://") else None
                ctx["proxy"] = {"url": args[0], "settings": {}, "members": known["members"] if known else [],
                                "section": True, "ssl": False}
                ctx["scope"].proxies.append(ctx["proxy"])
            elif tag == "proxymatch":  # a regex: applied to no backend here
                ctx["proxy"] = {"url": None, "settings": {}, "members": [], "section": True, "ssl": False}
            elif tag in ("location", "locationmatch"):
                ctx["location"] = args[0] if args else ""
            continue
        word, rest = _confread.apache_directive(text)
        key, args = word.lower(), _confread.apache_words(rest)
        per_dir = [t for t in ctx["tags"] if t in _AP_PER_DIR]
        problem = None
        if key in _AP_SSL:
            problem = _ap_refused_setting(key, args) if args or key not in _AP_ONE_ARG else \
                "%s without an argument: Apache refuses this configuration" % _AP_NAMES[key]
            if per_dir and key != "proxypreservehost" and not problem:  # (mod_proxy's: RSRC_CONF|ACCESS_CONF)
                problem = "%s not allowed in <%s> context: Apache refuses this configuration" % (
                    _AP_NAMES[key], _ap_section_name(per_dir[-1]))
        elif key in ("proxypass", "proxypassmatch") and any(t in _AP_NO_PASS for t in per_dir):
            problem = "%s cannot occur within <%s> section: Apache refuses this configuration" % (
                word, _ap_section_name([t for t in per_dir if t in _AP_NO_PASS][-1]))
        if problem and not ctx["refused"]:
            ctx["refused"] = "%s (%s, line %s)" % (problem, path, line)
        if not args:
            continue
        if key in ("include", "includeoptional"):
            pattern = _confread._absolute(args[0], state.server_root)
            # 3: Apache reads a directory's entries sorted, each subdirectory in its place, dot files too
            # (process_resource_config_nofnmatch), and a wildcard's matches so (process_resource_config_fnmatch)
            included_files = state.source.glob(pattern, recursive=True)
            missing = key == "include" and _ap_include_missing(state.source, pattern, included_files)
            if missing and not ctx["refused"]:
                ctx["refused"] = "Include %s: %s: Apache refuses this configuration (%s, line %s)" % (
                    args[0], missing, path, line)
            for included in included_files:
                if included in stack:
                    raise CertError("INVALID_CONFIG", "Include cycle: %s includes %s again" % (path, included))
                _ap_file(included, state, ctx, scopes, depth + 1, stack)
        elif key == "define" and len(args) > 1:
            state.defines[args[0]] = args[1]
        elif key == "undefine":
            # 3: core's unset_define forgets the variable: a later ${VAR} is left as written (AH00111, "Config
            # variable ${VAR} is not defined"), unless the environment holds it (ap_resolve_env)
            state.defines.pop(args[0], None)
        elif key == "serverroot":
            state.server_root = args[0]
        elif key == "listen":
            scopes[0].listens.append(args[0])
        if ctx["proxy"] is not None and key.startswith("ssl"):
            ctx["proxy"]["ssl"] = True  # mod_ssl keeps a configuration of its own for this section (see _ap_settings)
        if key in _AP_SSL:
            if key == "sslproxyciphersuite" and len(args) == 2 and args[0] == "TLSv1.3":
                key = _AP_TLS13_SUITES  # mod_ssl keeps (and merges) the TLS 1.3 suites apart from the cipher list
            if key == "proxypreservehost" and per_dir and ctx["proxy"] is None:
                # 3: per directory in mod_proxy: a <Location>'s applies to the requests under its path only; a
                # <Directory>'s, <Files>' or <If>'s to no proxied request read here (see _ap_settings)
                if ctx["location"] is not None and per_dir[-1] in ("location", "locationmatch"):
                    ctx["scope"].location_settings.append((ctx["location"], per_dir[-1] == "locationmatch",
                                                           (args, line, path, "location")))
                continue
            if ctx["proxy"] is not None:
                ctx["proxy"]["settings"][key] = (args, line, path, "proxy")
            else:
                ctx["scope"].settings[key] = (args, line, path, "virtualhost" if ctx["scope"].name else "server")
        elif key in ("proxypass", "proxypassmatch"):
            in_match = "locationmatch" in per_dir
            kind = "match" if key == "proxypassmatch" or (ctx["location"] is not None and in_match) else "pass"
            if ctx["location"] is not None and len(args) >= 1 and "://" in args[0]:
                ctx["scope"].passes.append((ctx["location"], args[0], line, path, args[1:], None,
                                            "location" if kind == "pass" else kind))
            elif ctx["location"] is not None and len(args) >= 2 and "://" in args[1]:
                # 3: Apache refuses a path here ("ProxyPass|ProxyPassMatch can not have a path when defined in a
                # location")
                ctx["scope"].passes.append((ctx["location"], args[1], line, path, args[2:], "%s can not have a path "
                                            "inside <Location>: Apache refuses this configuration" % word, "match"))
            elif len(args) >= 2:
                ctx["scope"].passes.append((args[0], args[1], line, path, args[2:], None, kind))
        elif key == "balancermember":
            if ctx["proxy"] is not None and "://" in args[0] and not args[0].lower().startswith("balancer://"):
                ctx["proxy"]["members"].append((args[0], line, path, args[1:]))
            elif len(args) > 1 and args[0].lower().startswith("balancer://"):
                proxy = _ap_balancer(ctx["scope"], args[0]) or {"url": args[0], "settings": {}, "members": [],
                                                                "section": False, "ssl": False}
                if proxy not in ctx["scope"].proxies:
                    ctx["scope"].proxies.append(proxy)
                proxy["members"].append((args[1], line, path, args[2:]))


def _ap_balancer(scope, url):
    name = url.rstrip("/").lower()
    for proxy in scope.proxies:
        if proxy["url"] and proxy["url"].rstrip("/").lower() == name:
            return proxy
    return None


def _ap_settings(main_scope, scope, request_url, request=None):
    """The settings Apache connects with for a request through `scope` (the main server or a VirtualHost) proxied to
    request_url (the ProxyPass target; a balancer's URL for its members: its <Proxy balancer://> section applies,
    never a section of a member's own URL).

    3: the server's settings (a VirtualHost's merged over the main server's), then the <Proxy> sections whose URL is
    a prefix of request_url, the main server's before the VirtualHost's, in order (mod_proxy's proxy_walk). mod_ssl
    builds the proxy context of a section that holds a mod_ssl directive once, from the server that defines it
    (ssl_proxy_section_post_config: the section's own SSLProxy* merged over that server's), and that context replaces
    the request's whole (ssl_config_perdir_merge): the last such section wins, a main-server section carries the main
    server's settings, not the VirtualHost's, also for a request the VirtualHost serves. A section without a mod_ssl
    directive changes no SSLProxy* setting. Measured with Apache 2.4 (tests/integration/test_lb_config_semantics.py).
    ProxyPreserveHost (mod_proxy's) merges through every layer as usual, then the <Location> sections that apply to
    request (the ProxyPass's (path, kind): _ap_location_applies), the main server's before the VirtualHost's."""
    servers = [main_scope] if scope is main_scope else [main_scope, scope]
    layers = [s.settings for s in servers]
    matching = [(owner, p) for owner in servers for p in owner.proxies if p.get("section") and p["url"] is not None
                and _ap_section_matches(p["url"], request_url)]
    ssl_layers = layers
    for owner, section in matching:
        if section["ssl"]:
            ssl_layers = [main_scope.settings] + ([] if owner is main_scope else [owner.settings])
            ssl_layers = ssl_layers + [section["settings"]]
    settings = _ap_merge(ssl_layers)
    locations = [{"proxypreservehost": entry} for owner in servers for where, regex, entry in owner.location_settings
                 if request and _ap_location_applies(where, regex, request)]
    preserve = _ap_merge(layers + [p["settings"] for _owner, p in matching] + locations).get("proxypreservehost")
    settings.pop("proxypreservehost", None)
    if preserve:
        settings["proxypreservehost"] = preserve
    return settings


def _ap_section_name(tag):
    return _AP_SECTION_NAMES.get(tag, tag.capitalize())


def _ap_include_missing(source, pattern, found):
    """3: why Apache refuses `Include pattern` (not IncludeOptional), None when it takes it: a file or directory
    that is not there ("Could not open configuration file"), a wildcard that matches nothing ("No matches for the
    wildcard", or "Could not open directory" for a directory before it that is not there). A directory with nothing
    in it is fine, and so is a path with a ${VAR} left in it (the environment Apache starts with may define it)."""
    if found or _confread._APACHE_VAR.search(pattern):  # (a variable of Apache's environment, not known here)
        return None
    if not _apr_fnmatch_test(pattern):
        there = source.exists(pattern) or (source.files is not None and any(
            name.startswith(pattern.rstrip("/") + "/") for name in source.files))  # (a dump's directory)
        return None if there else "Could not open configuration file %s" % pattern
    if source.files is None and glob.glob(pattern):  # only empty directories matched: Apache reads nothing there
        return None
    return "No matches for the wildcard %r" % os.path.basename(pattern)


def _ap_alias_match(uri, alias):
    """mod_proxy's alias_match: the length of uri that a ProxyPass path (or a <Location> path, in location_walk's
    way) matches, 0 for none: any run of / matches any run, other characters literally, and the path's last
    component must end where a component of uri does."""
    i = k = 0
    while i < len(alias) and k < len(uri):
        if alias[i] == "/":
            if uri[k] != "/":
                return 0
            while i < len(alias) and alias[i] == "/":
                i += 1
            while k < len(uri) and uri[k] == "/":
                k += 1
        elif uri[k] != alias[i]:
            return 0
        else:
            i, k = i + 1, k + 1
    if k == len(uri) and i != len(alias):
        return 0
    if alias and alias[i - 1] != "/" and k < len(uri) and uri[k] != "/":
        return 0
    return k


def _ap_unused_passes(passes):
    """3: the indexes of a server's ProxyPass lines Apache never sends a request to: mod_proxy's proxy_trans takes
    the first line, in order, whose path matches the request (alias_match), so a ProxyPass whose every request an
    earlier ProxyPass's path (or exclusion, `ProxyPass /p/ !`) matches is never used. Only ProxyPass lines outside
    <Location>, both ways (a regex's matches are not read here)."""
    unused, earlier = set(), []
    for index, (path, _url, _line, _file, _params, problem, kind) in enumerate(passes):
        if kind != "pass" or problem:
            continue
        if any(_ap_alias_match(path, before) for before in earlier):
            unused.add(index)
        earlier.append(path)
    return unused


def _ap_location_applies(where, regex, request):
    """3: whether a <Location where> (or <LocationMatch>, regex) setting applies to every request of a ProxyPass
    (path, kind): a <Location>'s path matching the ProxyPass's path from its start (location_walk, as alias_match
    compares), for a ProxyPass of a path or inside <Location>; a <LocationMatch>'s only to a ProxyPass inside it (a
    regex is not evaluated here)."""
    path, kind = request
    if regex or kind == "match":
        return regex and kind == "match" and where == path
    return bool(_ap_alias_match(path, where))


def _ap_section_matches(pattern, url):
    """3: whether a <Proxy pattern> section applies to a request proxied to url, as mod_proxy's proxy_walk decides:
    a pattern with a wildcard (apr_fnmatch_test: an unescaped * or ?, or a [ closed later) matches the whole URL as
    apr_fnmatch matches it, any other is a prefix; both case-sensitively, though the balancer a URL names is found
    ignoring case (measured with Apache 2.4.71 by a differential fuzz: <Proxy HTTPS://host/> does not apply to
    https://host/)."""
    if _apr_fnmatch_test(pattern):
        # (url is the ProxyPass target: a request's own path goes on after it, so a pattern that ends in * and
        # begins with url's text applies to some requests; counted as applying)
        return _apr_match(_apr_tokens(pattern), url) or url.startswith(pattern.rstrip("*"))
    return url.startswith(pattern)


def _apr_fnmatch_test(pattern):
    """APR's apr_fnmatch_test: whether mod_proxy takes a <Proxy> URL as a pattern (an unescaped * or ?, or a ]
    after an unescaped [)."""
    opened, i = False, 0
    while i < len(pattern):
        c = pattern[i]
        if c in "*?" or (c == "]" and opened):
            return True
        if c == "\\":
            i += 1
        elif c == "[":
            opened = True
        i += 1
    return False


def _apr_tokens(pattern):
    """apr_fnmatch's pattern (no flags) as tokens: ("lit", c), ("any", None) for ?, ("star", None), ("set",
    (negate, [(low, high)])) for a bracket (! or ^ negates; a ] first is literal; a backslash makes the next
    character literal, also a -; a range written backwards is empty), and a [ never closed is a literal [."""
    tokens, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            tokens.append(("lit", pattern[i + 1]))
            i += 2
            continue
        if c in "*?":
            tokens.append(("star" if c == "*" else "any", None))
        elif c == "[":
            j = i + 1
            negate = j < n and pattern[j] in "!^"
            j += 1 if negate else 0
            members, first = [], j  # (character, escaped)
            while j < n and (pattern[j] != "]" or j == first):
                escaped = pattern[j] == "\\" and j + 1 < n
                j += 1 if escaped else 0
                members.append((pattern[j], escaped))
                j += 1
            if j >= n:
                tokens.append(("lit", c))
            else:
                ranges, m = [], 0
                while m < len(members):
                    if m + 2 < len(members) and members[m + 1] == ("-", False):
                        ranges.append((members[m][0], members[m + 2][0]))
                        m += 3
                    else:
                        ranges.append((members[m][0], members[m][0]))
                        m += 1
                tokens.append(("set", (negate, ranges)))
                i = j
        else:
            tokens.append(("lit", c))
        i += 1
    return tokens


def _apr_one(token, char):
    kind, value = token
    if kind == "any":
        return True
    if kind == "lit":
        return char == value
    negate, ranges = value
    return any(low <= char <= high for low, high in ranges) != negate


def _apr_match(tokens, text):
    """Whether the whole text matches the tokens (* and ? match any character, / too): the usual glob walk that
    goes back only to the last *, so a pattern of many * costs at most len(tokens) x len(text) steps."""
    t = k = 0
    star, mark = -1, 0
    while k < len(text):
        if t < len(tokens) and tokens[t][0] != "star" and _apr_one(tokens[t], text[k]):
            t, k = t + 1, k + 1
        elif t < len(tokens) and tokens[t][0] == "star":
            star, mark, t = t, k, t + 1
        elif star >= 0:
            mark += 1
            t, k = star + 1, mark
        else:
            return False
    while t < len(tokens) and tokens[t][0] == "star":
        t += 1
    return t == len(tokens)


def _ap_server_refusal(main_scope, scope):
    """Why Apache does not start for a server's own proxy context (the main server's; a VirtualHost's, merged over
    it), whatever its <Proxy> sections say: mod_ssl builds the context of a server with SSLProxyEngine on, and refuses
    a revocation check there without a CRL file or directory there (AH01899). None when it starts. Measured with Apache
    2.4: SSLProxyCARevocationCheck in a VirtualHost whose CRL file is only in its <Proxy> sections stops it (the CRL
    hunt of 2026-12-07); SSLProxyEngine on only in the <Proxy> section does not."""
    for layers in ([main_scope.settings], [main_scope.settings] + ([] if scope is main_scope else [scope.settings])):
        settings = _ap_merge(layers)
        check = _ap_check_without_crl(settings)
        if check and _ap_flag(settings, "sslproxyengine") is True:
            return ("SSLProxyCARevocationCheck %s in the %s without SSLProxyCARevocationFile or "
                    "SSLProxyCARevocationPath there (a <Proxy> section's does not count): Apache refuses this "
                    "configuration (AH01899)" % (check, "main server" if len(layers) == 1 else "VirtualHost"))
    return None


def _ap_check_without_crl(settings):
    """The revocation check mode set without a CRL file or directory beside it (mod_ssl refuses such a context at
    start, AH01899), else None."""
    check = _ap_crl_check(settings.get("sslproxycarevocationcheck"))[0]
    if check != "none" and not (settings.get("sslproxycarevocationfile") or settings.get("sslproxycarevocationpath")):
        return check
    return None


def _ap_pass(state, main_scope, scope, path, url, line, file, kind="pass"):
    if url == "!":
        return []
    scheme = url.partition("://")[0].lower()
    location = "%s %s" % (scope.name or "main server", path)
    common = {"lb_type": "apache", "location": location}
    if scheme == "balancer":
        name = "/".join(url.split("/", 3)[:3])  # balancer://name
        # 3: mod_proxy merges the main server's balancers before a VirtualHost's own (merge_proxy_config) and uses
        # the first of a name (ap_proxy_get_balancer): the main server's pool wins over a VirtualHost's namesake
        balancer = _ap_balancer(main_scope, name) or _ap_balancer(scope, name)
        if balancer is None:
            return [backend_item(config_file=file, line=line, source="ProxyPass", pool=url, error=_config_error(
                "%s is not defined (no <Proxy %s> with BalancerMember)" % (url, url)), **common)]
        settings = _ap_settings(main_scope, scope, url, (path, kind))
        out = []
        for member, m_line, m_file, params in balancer["members"]:
            item = _ap_item(state, [settings], member, m_file, m_line, "BalancerMember", balancer["url"], common,
                            _ap_server_refusal(main_scope, scope))
            if item:
                item.update(_ap_member_status(params))
                out.append(item)
        return out
    item = _ap_item(state, [_ap_settings(main_scope, scope, url, (path, kind))], url, file, line, "ProxyPass", None,
                    common,
                    _ap_server_refusal(main_scope, scope))
    return [item] if item else []


def _ap_worker_name(url):
    """A worker's name as mod_proxy compares it: the URL with its scheme and host lowercased."""
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return scheme.lower() + sep + host.lower() + slash + path


def _ap_longest(workers, name):
    """The parameters of the worker ({name: parameters}, the first of equal names kept) with the longest name that
    name begins with; None when there is none."""
    for end in range(len(name), 0, -1):
        if name[:end] in workers:
            return workers[name[:end]]
    return None


def _ap_workers(scope, workers=None):
    """3: {name: parameters} of the workers a server's ProxyPass lines make, over `workers` (the main server's, for
    a VirtualHost): a line whose URL begins with an earlier worker's name of the server shares that worker (its own
    parameters ignored: "Sharing worker"), any other makes one with its parameters."""
    own, merged = {}, dict(workers or {})
    for _path, url, _line, _file, params, _problem, _kind in scope.passes:
        name = _ap_worker_name(url)
        if "://" in url and not name.startswith("balancer://") and _ap_longest(own, name) is None:
            own[name] = params
            merged.setdefault(name, params)  # (the main server's worker first, of equal names)
    return merged


def _ap_worker_params(workers, url):
    """3: the parameters of the worker Apache proxies url through: of the workers made by the main server's lines,
    then the VirtualHost's (_ap_workers), the one with the longest name url begins with, the first of equals
    (differential fuzzes against Apache 2.4.71: `status=D` on a line to https://b/ takes a later line's
    https://b/sub/ out of service; on the later line it is ignored)."""
    found = _ap_longest(workers, _ap_worker_name(url))
    return found if found is not None else []


def _ap_member_status(params, drain=True):
    """{disabled, backup} from a BalancerMember's or ProxyPass worker's `status=` parameter (3: letters, each set by
    default or with `+`, cleared with `-`; D disabled and S stopped take no requests, N (draining) no new ones in a
    balancer, where Apache answers 503 with no other member; a ProxyPass worker of its own ignores N (drain=False);
    H hot standby and R hot spare are backups)."""
    flags = set()
    for param in params:
        key, _sep, value = param.partition("=")
        if key.lower() != "status":
            continue
        sign = "+"
        for char in value.upper():
            if char in "+-":
                sign = char
            elif sign == "+":
                flags.add(char)
            else:
                flags.discard(char)
    return {"disabled": bool(flags & ({"D", "S", "N"} if drain else {"D", "S"})), "backup": bool(flags & {"H", "R"})}


def _ap_merge(layers):
    merged = {}
    for layer in layers:
        merged.update(layer)
    return merged


def _ap_flag(settings, key):
    """True/False when the directive is set on/off, None when unset (mod_ssl's UNSET)."""
    entry = settings.get(key)
    return entry[0][0].lower() == "on" if entry else None


def _ap_protocols(args):
    """SSLProxyProtocol arguments -> set of protocols (3: default `all -SSLv3`)."""
    allowed = set()
    for arg in args:
        sign = arg[0] if arg[:1] in ("+", "-") else ""
        name = arg[1:] if sign else arg
        names = set(PROTOCOLS) if name.lower() == "all" else {p for p in PROTOCOLS if p.lower() == name.lower()}
        if not sign:
            allowed = set(names)
        elif sign == "+":
            allowed |= names
        else:
            allowed -= names
    return allowed


def _ap_version_range(allowed):
    """3: (min, max) as mod_ssl sets them (ssl_init_ctx_protocol): the highest version allowed, and down from it as
    long as the next lower one is allowed too ("we do not allow holes"): `-all +TLSv1.1 +TLSv1.3` is TLS 1.3 only."""
    ordered = [p for p in PROTOCOLS if p in allowed]
    if not ordered:
        return None, None
    low = top = PROTOCOLS.index(ordered[-1])
    while low > 0 and PROTOCOLS[low - 1] in allowed:
        low -= 1
    return PROTOCOLS[low], PROTOCOLS[top]


def _ap_depth(text):
    """3: SSLProxyVerifyDepth as mod_ssl reads it, with C's atoi: leading digits after an optional sign ("1x" is 1,
    "abc" 0); (depth or None when longer than MAX_COUNT_DIGITS, problem or None: a negative depth Apache refuses)."""
    match = re.match(r"[ \t\n\v\f\r]*([+-]?)([0-9]*)", text)
    digits = match.group(2).lstrip("0") or "0"
    if match.group(1) == "-" and digits != "0":
        return None, "SSLProxyVerifyDepth %s: Apache refuses a negative depth" % text
    return (int(digits) if len(digits) <= MAX_COUNT_DIGITS else None), None


# mod_ssl's and mod_proxy's directives read here: how many arguments each takes (1: TAKE1 or FLAG) and, for a FLAG or
# an enumeration, the values Apache accepts (case-insensitive)
_AP_ONE_ARG = {"sslproxyengine": ("on", "off"), "sslproxycheckpeername": ("on", "off"),
               "sslproxycheckpeercn": ("on", "off"), "sslproxycheckpeerexpire": ("on", "off"),
               "proxypreservehost": ("on", "off"),
               "sslproxyverify": ("none", "optional", "require", "optional_no_ca"),
               "sslproxyverifydepth": None, "sslproxycacertificatefile": None, "sslproxycacertificatepath": None,
               "sslproxymachinecertificatefile": None, "sslproxycarevocationfile": None,
               "sslproxycarevocationpath": None, "sslproxymachinecertificatepath": None,
               "sslproxymachinecertificatechainfile": None}


_AP_SUITES = ("SSL", "TLSv1.3")  # SSLProxyCipherSuite's protocols, compared as written (mod_ssl: strcmp)
# The settings key of `SSLProxyCipherSuite TLSv1.3 ...`: mod_ssl keeps the TLS 1.3 suites and the cipher list of TLS
# 1.2 and lower (one argument, or `SSL ...`) as two settings, each set, inherited and merged on its own.
_AP_TLS13_SUITES = "sslproxyciphersuite tlsv1.3"


_AP_PROTOCOL_WORDS = ("all", "tlsv1", "tlsv1.1", "tlsv1.2", "tlsv1.3")  # mod_ssl ssl_cmd_protocol_parse
_AP_PROTOCOL_GONE = ("sslv2", "sslv3")  # only to be taken away: SSLv2 is gone, SSLv3 not in OpenSSL 3


def _ap_refused_setting(key, args):
    """Why Apache refuses to start with this setting (a wrong number of arguments, a value it does not know); None
    when it takes it."""
    if key in _AP_ONE_ARG:
        allowed = _AP_ONE_ARG[key]
        if len(args) != 1 or (allowed and args[0].lower() not in allowed):
            return "%s %s: Apache refuses this configuration (%s)" % (
                _AP_NAMES[key], " ".join(args), "one argument" if not allowed else "one of " + ", ".join(allowed))
    elif key == "sslproxyciphersuite" and (len(args) > 2 or (len(args) == 2 and args[0] not in _AP_SUITES)):
        return ("SSLProxyCipherSuite %s: Apache refuses this configuration (the protocol is SSL or TLSv1.3, as "
                "written)" % " ".join(args))
    elif key == "sslproxyprotocol":
        for word in args:
            name = (word[1:] if word[:1] in "+-" else word).lower()
            if name not in _AP_PROTOCOL_WORDS and not (name in _AP_PROTOCOL_GONE and word.startswith("-")):
                return "SSLProxyProtocol %s: Apache refuses this configuration (%s)" % (
                    " ".join(args), "%s is not supported" % word if name in _AP_PROTOCOL_GONE
                    else "illegal protocol %r" % word)
    return None


def _ap_crl_check(entry):
    """SSLProxyCARevocationCheck's arguments -> (mode, no_crl_for_cert_ok, problem or None); unset: none (mod_ssl
    ssl_cmd_crlcheck_parse: none|leaf|chain, then only the flag no_crl_for_cert_ok, case-insensitive)."""
    if not entry:
        return "none", False, None
    words = [w.lower() for w in entry[0]]
    unknown = [w for w in words[1:] if w != "no_crl_for_cert_ok"]
    if words[0] not in CRL_CHECKS or unknown:
        bad = words[0] if words[0] not in CRL_CHECKS else unknown[0]
        return "none", False, "SSLProxyCARevocationCheck: invalid argument %r: Apache refuses this configuration" % bad
    return words[0], len(words) > 1, None


def _ap_item(state, layers, url, file, line, source, pool, common, server_problem=None):
    if url[:5].lower() == "unix:" and "|" in url:
        return _ap_unix_item(state, layers, url, file, line, source, pool, common, server_problem)
    scheme, _sep, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme not in _AP_TLS_SCHEMES + _AP_PLAIN_SCHEMES:
        return None
    hostport = rest.split("/", 1)[0]
    tls = scheme in _AP_TLS_SCHEMES
    fields = dict(common, config_file=file, line=line, source=source, pool=pool or url, server=url, tls=tls)
    if "$" in hostport:
        return backend_item(error={"code": "DYNAMIC_ADDRESS", "message": "%s: the backend is only known to Apache at "
                                   "run time" % url}, **fields)
    host, port, problem = _split_hostport(hostport, 443 if tls else 80)
    fields.update(address=host, port=port)
    if problem:
        return backend_item(error=_config_error(problem), **fields)
    if not tls:
        return backend_item(verify=False, **fields)
    settings = _ap_merge(layers)
    error = None
    if _ap_flag(settings, "sslproxyengine") is not True:
        error = _config_error("SSLProxyEngine is not on here: Apache refuses to proxy to %s (500)" % url)
    verify_args = (settings.get("sslproxyverify") or (["none"], None, None))[0]  # 3: SSLProxyVerify none
    verify = verify_args[0].lower() in ("require", "optional", "optional_no_ca")
    verify_origin = settings["sslproxyverify"][3] if settings.get("sslproxyverify") else "default"
    name_on, cn_on = _ap_flag(settings, "sslproxycheckpeername"), _ap_flag(settings, "sslproxycheckpeercn")
    # 3: the name is checked after the handshake whatever SSLProxyVerify says (mod_ssl ssl_io_filter_handshake):
    # the full match unless CheckPeerName is off or (CheckPeerCN off and CheckPeerName not explicitly on); the
    # legacy first-CN compare when CheckPeerName is off and CheckPeerCN explicitly on.
    if name_on is not False and (cn_on is not False or name_on is True):
        name_rule = "apache"
    elif cn_on is True:
        name_rule = "apache_cn"
    else:
        name_rule = None
    # 3: the name is the backend URL's host, or the client's Host with ProxyPreserveHost on.
    preserve = _ap_flag(settings, "proxypreservehost") is True
    name = _dynamic("Host header of the request (ProxyPreserveHost on)") if preserve else host
    sni = name if isinstance(name, dict) or not _base.is_ip(name) else None  # 3: never an IP literal as SNI
    ca_file = settings.get("sslproxycacertificatefile")
    ca_path = settings.get("sslproxycacertificatepath")
    cert = settings.get("sslproxymachinecertificatefile")
    protocols = (settings.get("sslproxyprotocol") or (["all", "-SSLv3"], None, None))[0]
    min_version, max_version = _ap_version_range(_ap_protocols(protocols))
    protocol_problem = None if min_version else (
        "SSLProxyProtocol %s leaves no protocol version enabled: Apache refuses this configuration"
        % " ".join(protocols))
    ciphers, ciphersuites = "DEFAULT:!aNULL:!eNULL:!EXP", None  # 3: OpenSSL DEFAULT + :!aNULL:!eNULL:!EXP
    suite, suites13 = settings.get("sslproxyciphersuite"), settings.get(_AP_TLS13_SUITES)
    if suite:  # one argument, or `SSL <list>`: mod_ssl always appends what it excludes (ssl_cmd_SSLProxyCipherSuite)
        ciphers = suite[0][-1] + ":!aNULL:!eNULL:!EXP"
    if suites13:
        ciphersuites = suites13[0][1]
    depth, depth_problem = _ap_depth((settings.get("sslproxyverifydepth") or (["1"], None, None))[0][0])
    # (3: default 1, the anchor counted)
    crl_file, crl_path = settings.get("sslproxycarevocationfile"), settings.get("sslproxycarevocationpath")
    crl_check, crl_missing_ok, crl_problem = _ap_crl_check(settings.get("sslproxycarevocationcheck"))
    if crl_problem is None and _ap_check_without_crl(settings):
        crl_problem = ("SSLProxyCARevocationCheck %s without SSLProxyCARevocationFile or SSLProxyCARevocationPath: "
                       "Apache refuses this configuration (AH01899)" % crl_check)
    cipher_problem = cipher_list_problem(ciphers, "SSLProxyCipherSuite") if suite else None  # (AH01898 at start)
    for problem in (server_problem, crl_problem, protocol_problem, depth_problem, cipher_problem):
        if problem:
            error = error or _config_error(problem)
    unread = [_AP_NAMES[name] for name in ("sslproxymachinecertificatepath", "sslproxymachinecertificatechainfile")
              if settings.get(name)]
    if unread and error is None:  # client certificates (and their chains) Apache presents that are not read here
        error = {"code": "UNSUPPORTED_SETTING", "message": "%s: the client certificates Apache presents from there "
                 "are not read here: not judged" % " and ".join(unread)}
    if verify_args[0].lower() == "optional_no_ca" and error is None:
        error = {"code": "UNSUPPORTED_SETTING", "message": "SSLProxyVerify optional_no_ca: Apache forgives an "
                 "untrusted issuer there and keeps every other check of the chain (its dates, the depth, "
                 "revocation), which cert_chain_verify cannot reproduce: not judged"}

    def path(entry):
        if not entry:
            return None
        value = entry[0][0]
        return _confread._absolute(value, state.server_root) if not _confread._APACHE_VAR.search(value) else None

    return backend_item(
        verify=verify, verify_origin=verify_origin, sni=sni, verify_name=name if name_rule else None,
        name_rule=name_rule, check_expiry=verify or _ap_flag(settings, "sslproxycheckpeerexpire") is not False,
        ca_file=path(ca_file), ca_path=path(ca_path), crl_file=path(crl_file), crl_path=path(crl_path),
        crl_check=crl_check, crl_missing_ok=crl_missing_ok, verify_depth=depth,
        client_cert=path(cert), min_version=min_version, max_version=max_version, ciphers=ciphers,
        ciphersuites=ciphersuites, error=error, **fields)


def _ap_unix_item(state, layers, url, file, line, source, pool, common, server_problem):
    """3: "unix:/path|https://host/" (mod_proxy's ap_proxy_de_socketfy, "unix:" ignoring case): the URL after the
    "|" over a unix-domain socket, its host the name Apache sends and checks. No TCP address: UNSUPPORTED_ADDRESS,
    not probed, not judged, unless its settings make Apache refuse the file (INVALID_CONFIG), as nginx's
    "https://unix:" (_lbview_nginx._ngx_unix_pass). Plain http to a socket is no TLS backend: none."""
    socket, _bar, target = url[5:].partition("|")
    item = _ap_item(state, layers, target, file, line, source, pool, common, server_problem)
    if item is None or not item["tls"]:
        return None
    if not (item["error"] and item["error"]["code"] == "INVALID_CONFIG"):
        item["error"] = {"code": "UNSUPPORTED_ADDRESS", "message": "%s %s: a unix-domain socket (%s), not a TCP "
                         "address: not probed, not judged" % (source, url, socket)}
    item.update(address=None, port=None, pool=pool or "unix:%s" % socket, server="unix:%s" % socket)
    return item
