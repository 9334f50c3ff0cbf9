# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The load balancer's view, nginx's part (lb-view.md section 2): the backends of an nginx configuration (http
`proxy_pass` and the other `*_pass`, `upstream` groups, the stream module), as _lbview.lb_backends returns them
(_lbview.backend_item). Imported only for a run that reads nginx."""

from __future__ import annotations

import os
import re

from ansible_collections.certops.backend_tls.plugins.module_utils import _base, _confread
from ansible_collections.certops.backend_tls.plugins.module_utils._lbview import (
    _SECLEVEL,
    _SECLEVEL_ANY,
    _SECLEVEL_VALID,
    PROTOCOLS,
    _config_error,
    _dynamic,
    _split_hostport,
    backend_item,
    cipher_list_problem,
    security_level,
)

_NGX_SETTINGS = ("proxy_ssl_verify", "proxy_ssl_trusted_certificate", "proxy_ssl_name", "proxy_ssl_server_name",
                 "proxy_ssl_protocols", "proxy_ssl_ciphers", "proxy_ssl_certificate", "proxy_ssl_certificate_key",
                 "proxy_ssl_verify_depth", "proxy_ssl_conf_command", "proxy_ssl_crl", "proxy_ssl_password_file",
                 "resolver")
# 2: the defaults of nginx 1.22 when a level sets nothing.
_NGX_DEFAULTS = {"proxy_ssl_verify": ["off"], "proxy_ssl_server_name": ["off"], "proxy_ssl_name": ["$proxy_host"],
                 "proxy_ssl_protocols": ["TLSv1", "TLSv1.1", "TLSv1.2"], "proxy_ssl_ciphers": ["DEFAULT"],
                 "proxy_ssl_verify_depth": ["1"], "proxy_ssl": ["off"], "proxy_protocol": ["off"]}
# 2: a stream server's own switches: TLS to the backend (proxy_ssl) and a PROXY protocol v1 header first
_NGX_STREAM_SETTINGS = _NGX_SETTINGS + ("proxy_ssl", "proxy_protocol")
# nginx 1.23.4 (CHANGES: "now TLSv1.3 protocol is enabled by default") added TLSv1.3 to proxy_ssl_protocols' default.
_NGX_TLS13_DEFAULT_SINCE = (1, 23, 4)
_NGX_VERSION = re.compile(r"nginx/([0-9]{1,9})\.([0-9]{1,9})\.([0-9]{1,9})")


def nginx_version(text):
    """(major, minor, patch) from `nginx -v` output ('nginx version: nginx/1.22.1'), or None."""
    match = _NGX_VERSION.search(text or "")
    return tuple(int(g) for g in match.groups()) if match else None


def _ngx_protocols_default(version):
    """proxy_ssl_protocols when no level sets it, for that nginx version (None: unknown, taken as 1.22's)."""
    if version is not None and tuple(version) >= _NGX_TLS13_DEFAULT_SINCE:
        return ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
    return list(_NGX_DEFAULTS["proxy_ssl_protocols"])


# proxy_ssl_protocols' words as nginx reads them (ngx_conf_set_bitmask_slot: ignoring case; SSLv2 and SSLv3, which the
# system OpenSSL 3 does not build, leave no version of their own); another word is one nginx refuses
_NGX_PROTOCOLS = {"sslv2": None, "sslv3": None, "tlsv1": "TLSv1", "tlsv1.1": "TLSv1.1", "tlsv1.2": "TLSv1.2",
                  "tlsv1.3": "TLSv1.3"}
# proxy_ssl_conf_command's commands (OpenSSL's SSL_CONF_cmd, names ignoring case in a file's context) that set what a
# handshake offers, and the protocol names they take (MinProtocol/MaxProtocol: exact case, "None" for no limit);
# Options changes no version or cipher offered; any other command (Groups, SignatureAlgorithms...) is not reproduced
_NGX_CONF_PROTOCOLS = {"None": None, "TLSv1": "TLSv1", "TLSv1.1": "TLSv1.1", "TLSv1.2": "TLSv1.2",
                       "TLSv1.3": "TLSv1.3", "SSLv3": "SSLv3", "DTLSv1": "DTLS", "DTLSv1.2": "DTLS"}
_NGX_CONF_READ = ("ciphersuites", "cipherstring", "minprotocol", "maxprotocol", "protocol", "options")


def _openssl_client_range(enabled, low=None, high=None):
    """(min, max) of the versions an OpenSSL client offers (ssl_get_min_max_version): of those enabled and within
    low..high, the LOWEST contiguous run ("TLSv1 TLSv1.2 TLSv1.3" offers TLS 1.0 only: a version disabled above an
    enabled one is a hole, and the run starts again below it); (None, None) when none is left. Measured with the
    system's `openssl s_client -no_tls1_1` against a TLS 1.2/1.3 server: it offers TLS 1.0 and fails."""
    allowed = [p for i, p in enumerate(PROTOCOLS) if p in enabled
               and (low is None or i >= PROTOCOLS.index(low)) and (high is None or i <= PROTOCOLS.index(high))]
    if not allowed:
        return None, None
    top = start = PROTOCOLS.index(allowed[0])
    while top + 1 < len(PROTOCOLS) and PROTOCOLS[top + 1] in allowed:
        top += 1
    return PROTOCOLS[start], PROTOCOLS[top]


def _ngx_handshake(settings):
    """(min_version, max_version, ciphers, ciphersuites, problem) of what nginx offers a backend: proxy_ssl_protocols
    and proxy_ssl_ciphers, then each proxy_ssl_conf_command in order (nginx applies them last, over the others);
    problem: (code, message) for a setting nginx refuses or a command not reproduced here."""
    enabled = set()
    ciphers = _ngx_setting(settings, "proxy_ssl_ciphers")[0][0]
    commands = (settings.get("proxy_ssl_conf_command") or ([], None))[0]
    for text in [ciphers] + [args[1] for args in commands if len(args) > 1 and args[0].lower() == "cipherstring"]:
        if "@SECLEVEL" in text.upper() and not all(_SECLEVEL_VALID.fullmatch(m) for m in _SECLEVEL_ANY.findall(text)):
            return None, None, None, None, ("INVALID_CONFIG", "cipher string %s: OpenSSL refuses its security level "
                                            "(@SECLEVEL=0 to 5), and nginx this configuration" % text)
        refused = cipher_list_problem(text, "cipher string")
        if refused:
            return None, None, None, None, ("INVALID_CONFIG", refused)
    for word in _ngx_setting(settings, "proxy_ssl_protocols")[0]:
        if word.lower() not in _NGX_PROTOCOLS:
            return None, None, None, None, ("INVALID_CONFIG", 'proxy_ssl_protocols: invalid value "%s": nginx '
                                            'refuses this configuration' % word)
        if _NGX_PROTOCOLS[word.lower()]:
            enabled.add(_NGX_PROTOCOLS[word.lower()])
    ciphersuites = low = high = None
    for args in commands:
        command, value = args[0].lower(), args[1] if len(args) > 1 else ""
        if command not in _NGX_CONF_READ:
            return None, None, None, None, ("UNSUPPORTED_SETTING", "proxy_ssl_conf_command %s: how it changes the "
                                            "handshake is not reproduced here, not judged" % args[0])
        if command == "ciphersuites":
            ciphersuites = value
        elif command == "cipherstring":
            # OpenSSL keeps the security level an earlier cipher string set unless this one sets another
            level = security_level(ciphers)
            ciphers = value if level is None or _SECLEVEL.search(value) else "%s:@SECLEVEL=%d" % (value, level)
        elif command in ("minprotocol", "maxprotocol"):
            if value not in _NGX_CONF_PROTOCOLS:
                return None, None, None, None, ("INVALID_CONFIG", "proxy_ssl_conf_command %s %s: OpenSSL refuses "
                                                "the value, and nginx this configuration" % (args[0], value))
            version = _NGX_CONF_PROTOCOLS[value]
            if version == "DTLS":
                continue  # a DTLS bound: OpenSSL takes it, and a TLS context ignores it
            if command == "minprotocol":
                low = "TLSv1" if version == "SSLv3" else version
            else:
                high = version
        elif command == "protocol":
            # OpenSSL's list: names separated by commas (spaces around them dropped), ignoring case, + or - before
            # each; an empty name, or one with a space inside, is one OpenSSL refuses
            for word in (w.strip(" \t") for w in value.split(",")):
                name = word[1:] if word[:1] in "+-" else word
                versions = list(PROTOCOLS) if name.lower() == "all" else [
                    p for p in PROTOCOLS if p.lower() == name.lower()]
                if not versions and name.lower() not in ("sslv2", "sslv3", "dtlsv1", "dtlsv1.2"):
                    return None, None, None, None, ("INVALID_CONFIG", "proxy_ssl_conf_command Protocol %s: OpenSSL "
                                                    "refuses %s, and nginx this configuration" % (value, word))
                for version in versions:
                    (enabled.discard if word.startswith("-") else enabled.add)(version)
    min_version, max_version = _openssl_client_range(enabled, low, None if high == "SSLv3" else high)
    if min_version is None or high == "SSLv3":  # nginx starts, and every handshake with the backend fails
        return None, None, ciphers, ciphersuites, ("INVALID_CONFIG", "nginx offers the backend no TLS version (its "
                                                   "proxy_ssl_protocols and proxy_ssl_conf_command leave none): every "
                                                   "handshake fails")
    return min_version, max_version, ciphers, ciphersuites, None


_NGX_INT_MAX = 2 ** 63 - 1  # NGX_MAX_INT_T_VALUE: ngx_int_t is 64 bits where nginx 1.22 runs here (x86_64)
_OPENSSL_DEFAULT_DEPTH = 100  # X509_VERIFY_PARAM "default": the depth a context whose depth is -1 (unset) gets


def _ngx_depth(text):
    """(depth, problem) of a proxy_ssl_verify_depth value as nginx 1.22 uses it. ngx_conf_set_num_slot reads it with
    ngx_atoi: ASCII digits only (no sign, no "0x"), at most NGX_MAX_INT_T_VALUE, anything else "invalid number" and
    nginx refuses the file (problem). ngx_ssl_trusted_certificate hands the number to SSL_CTX_set_verify_depth(int):
    its low 32 bits, signed. Measured with nginx 1.22.1: 4294967297 is 1 and 4294967296 is 0; 2147483648
    (-2147483648) and 4294967294 (-2) take no chain at all; 4294967295 and 2^63-1 (-1: OpenSSL's "unset") take
    OpenSSL's default depth, 100. A negative depth other than -1 is reported as -1 (cert_chain_verify's "only a
    leaf that is itself an anchor")."""
    significant = (text or "").lstrip("0")  # (int() reads 4300 digits at most)
    if not re.fullmatch(r"[0-9]+", text or "") or len(significant) > 19 or int(significant or "0") > _NGX_INT_MAX:
        return None, ('"proxy_ssl_verify_depth" directive invalid number "%s": nginx refuses this configuration'
                      % text)
    depth = int(significant or "0") & 0xFFFFFFFF
    depth = depth - 2 ** 32 if depth >= 2 ** 31 else depth
    if depth == -1:
        return _OPENSSL_DEFAULT_DEPTH, None
    return max(depth, -1), None


_DUPLICATE = " duplicate"  # (no directive has this name) the first setting given twice at one level: (name, file, line)
_REFUSED = " refused"  # (no directive has this name either) why nginx refuses this level's file, the first reason
# 2: the on/off directives (ngx_conf_set_flag_slot: "on" or "off", ignoring case; another value nginx refuses)
_NGX_FLAGS = ("proxy_ssl_verify", "proxy_ssl_server_name", "proxy_ssl", "proxy_protocol")


def _refuse(settings, message):
    """Record why nginx refuses the file at this level (the first reason found), for its backends' error."""
    settings.setdefault(_REFUSED, message)


def _ngx_level(directives, inherited, level, names=_NGX_SETTINGS):
    """Settings of one level (http, server, location; stream, server): its own proxy_ssl_* override the inherited
    ones (2: merged http -> server -> location, the lowest level that sets one wins)."""
    settings = dict(inherited)
    commands = []
    protocols = []  # proxy_ssl_protocols is a bitmask (ngx_conf_set_bitmask_slot): its lines at one level add up
    own = set()
    for d in directives:
        if d["children"] is not None and d["name"] in ("if", "limit_except"):
            # 2: proxy_ssl_* (and resolver) are http, server and location directives: in an `if` or `limit_except`
            # block nginx refuses the file ("directive is not allowed here"), where proxy_pass is allowed
            inner = [c for c in d["children"] if c["name"] in names]
            if inner:
                _refuse(settings, '"%s" directive is not allowed here in %s:%s: nginx refuses this configuration'
                        % (inner[0]["name"], inner[0]["file"], inner[0]["line"]))
        if d["children"] is None and d["name"] in _NGX_FLAGS and d["name"] in names and d["args"] and \
                d["args"][0].lower() not in ("on", "off"):
            _refuse(settings, 'invalid value "%s" in "%s" directive, it must be "on" or "off" in %s:%s: nginx '
                    'refuses this configuration' % (d["args"][0], d["name"], d["file"], d["line"]))
        if d["children"] is None and d["name"] in names and d["args"]:
            if d["name"] == "proxy_ssl_conf_command":
                commands.append(d["args"])
            elif d["name"] == "proxy_ssl_protocols":
                protocols.extend(arg for arg in d["args"] if arg not in protocols)
                settings[d["name"]] = (list(protocols), level)
            else:
                if d["name"] in own and _DUPLICATE not in settings:
                    # 2: nginx takes each of these once a level ("directive is duplicate"): it refuses the file,
                    # and a running nginx keeps what it loaded before -- not this
                    settings[_DUPLICATE] = (d["name"], d["file"], d["line"])
                own.add(d["name"])
                settings[d["name"]] = (d["args"], level)
    if commands:  # inherited only by a level that has none of its own
        settings["proxy_ssl_conf_command"] = (commands, level)
    return settings


def nginx_backends(main, source, prefix=None, version=None):
    """Every backend of every `proxy_pass` of an nginx configuration (relative paths: the main file's directory).
    version: the nginx that reads it, (major, minor, patch), for the defaults that changed (None: 1.22's)."""
    source.reads = 0
    prefix = prefix or os.path.dirname(main)
    tree = _confread.nginx_tree(main, source, prefix, strict=True)
    items = []
    base = {"proxy_ssl_protocols": (_ngx_protocols_default(version), "default")}
    for block in tree:
        if block["name"] == "stream" and block["children"] is not None:
            items.extend(_ngx_stream(block["children"], base, prefix))
        if block["name"] != "http" or block["children"] is None:
            continue
        upstreams = {}
        _ngx_upstreams(block["children"], upstreams)
        implicit = set()
        _ngx_implicit_upstreams(block["children"], implicit)
        http = _ngx_level(block["children"], base, "http")
        for server in block["children"]:
            if server["name"] != "server" or server["children"] is None:
                continue
            names = [a for d in server["children"] if d["name"] == "server_name" for a in d["args"]]
            settings = _ngx_level(server["children"], http, "server")
            _ngx_locations(server["children"], settings, names, None, (upstreams, implicit), prefix, items)
    return items


_NGX_PASSES = ("proxy_pass", "grpc_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "memcached_pass")
_NGX_SCHEME_PORTS = {"http": 80, "https": 443, "grpc": 80, "grpcs": 443, "uwsgi": None, "suwsgi": None}


def _ngx_url_host(rest):
    """The host[:port] of a URL after its "scheme://": nginx ends it at the first "/" or "?" (ngx_parse_inet_url:
    "https://pool?x=1" names the upstream pool)."""
    return re.split(r"[/?]", rest, maxsplit=1)[0]


def _ngx_implicit_upstreams(directives, implicit):
    """2: the (host, port) of every *_pass without variables in an http block: nginx makes each an upstream of its
    own at start (ngx_http_upstream_add), resolved then, and a proxy_pass with variables that names the same host
    and port at run time uses it (ngx_http_upstream_init_request) with no `resolver`."""
    for d in directives:
        if d["children"] is not None:
            _ngx_implicit_upstreams(d["children"], implicit)
        elif d["name"] in _NGX_PASSES and d["args"] and "$" not in d["args"][0]:
            scheme, sep, rest = d["args"][0].partition("://")
            default = _NGX_SCHEME_PORTS.get(scheme.lower()) if sep else None
            host, port, problem = _split_hostport(_ngx_url_host(rest) if sep else scheme, default)
            if host and not problem and port is not None and rest[:5].lower() != "unix:":
                implicit.add((host.lower(), port))


def _ngx_stream(directives, base, prefix):
    """2: the backends of a `stream` block: each server's `proxy_pass` (an address with its port, or an upstream
    group's name), with TLS when `proxy_ssl on` (stream -> server) and the same proxy_ssl_* settings as http."""
    upstreams = {}
    _ngx_upstreams(directives, upstreams)
    stream = _ngx_level(directives, base, "stream", _NGX_STREAM_SETTINGS)
    items = []
    for server in directives:
        if server["name"] != "server" or server["children"] is None:
            continue
        settings = _ngx_level(server["children"], stream, "server", _NGX_STREAM_SETTINGS)
        listens = [d["args"][0] for d in server["children"] if d["name"] == "listen" and d["args"]]
        for d in server["children"]:
            if d["children"] is None and d["name"] == "proxy_pass" and d["args"]:
                items.extend(_ngx_stream_pass(d, settings, listens[0] if listens else "-", upstreams, prefix))
    return items


def _ngx_stream_pass(directive, settings, listen, upstreams, prefix):
    """2: one stream `proxy_pass`. Its address needs a port (nginx refuses one without: 'no port in upstream'),
    unless it names an upstream group (found ignoring case), whose servers need one too; the name checked defaults
    to the proxy_pass host (the group's name for a group), as in http; `proxy_protocol on` sends a v1 header."""
    address = directive["args"][0]
    tls = _ngx_setting(settings, "proxy_ssl")[0][0].lower() == "on"
    header = "v1" if _ngx_setting(settings, "proxy_protocol")[0][0].lower() == "on" else None
    common = {"lb_type": "nginx", "config_file": directive["file"], "line": directive["line"],
              "location": "stream %s" % listen, "proxy_protocol": header}
    if address.startswith("unix:"):
        return []
    if "$" in address:
        return [backend_item(source="proxy_pass", pool=address, tls=tls, error=_ngx_dynamic(
            address, address, settings, prefix, tls), **common)]
    host, port, problem = _split_hostport(address, None)
    if host and port is not None and host.lower() in upstreams:
        return [backend_item(source="proxy_pass", pool=address, tls=tls, error=_ngx_upstream_port(host, port),
                             **common)]
    group = upstreams.get(host.lower()) if host and port is None and ":" not in address.rsplit("]", 1)[-1] else None
    tls_fields = {"tls": False, "verify": False}
    if group is not None:
        tls_fields = _ngx_tls(settings, host, prefix) if tls else tls_fields
        return _ngx_members(group, host, None, dict(common, **tls_fields))  # 2: a stream server needs its port
    if not (problem or host):
        problem = _ngx_no_host(address)
    if problem:
        return [backend_item(source="proxy_pass", pool=address, tls=tls, error=_ngx_refused(
            problem if host is None or port is not None else "%s, and no upstream of that name" % problem),
            **common)]
    if tls:
        tls_fields = _ngx_tls(settings, host, prefix)
    return [backend_item(source="proxy_pass", pool=address, server=address, address=host, port=port,
                         **dict(common, **tls_fields))]


def _ngx_members(members, pool, default_port, fields):
    """The backends of an upstream group's `server` lines (a unix: socket is none), each with fields; default_port:
    a server's port when it gives none (None: nginx refuses it)."""
    out = []
    for member in members:
        address = member["args"][0]
        if address.startswith("unix:"):
            continue
        host, port, problem = _split_hostport(address, default_port)
        if not (problem or host):
            problem = _ngx_no_host(address)
        entry = dict(fields, config_file=member["file"], line=member["line"])
        if problem:
            entry["error"] = _ngx_refused(problem)
        # 2: `down` marks a server permanently unavailable; `backup` gets requests when the others are down
        entry.update(disabled="down" in member["args"][1:], backup="backup" in member["args"][1:])
        out.append(backend_item(source="upstream", pool=pool, server=address, address=host, port=port, **entry))
    return out


def _ngx_dynamic(written, address, settings, prefix, tls):
    """The error of a proxy_pass whose backend is a variable: DYNAMIC_ADDRESS, unless its TLS settings make nginx
    refuse the file whatever the variable holds (proxy_ssl_verify on without proxy_ssl_trusted_certificate)."""
    refused = _ngx_tls(settings, address, prefix)["error"] if tls else None
    if refused and refused["code"] == "INVALID_CONFIG":
        return refused
    return {"code": "DYNAMIC_ADDRESS", "message": "proxy_pass %s: the backend is only known to nginx at run time "
            "(a variable)" % written}


def _ngx_upstream_port(host, port):
    """2: a proxy_pass naming an upstream group with a port: nginx refuses the file."""
    return _config_error('upstream "%s" may not have port %s: nginx refuses this configuration' % (host, port))


def _ngx_refused(problem):
    return _config_error(problem if "nginx refuses" in problem else "%s: nginx refuses this configuration" % problem)


def _ngx_upstreams(directives, upstreams):
    for d in directives:
        if d["name"] == "upstream" and d["children"] is not None and d["args"]:
            # 2: nginx finds a group by name case-insensitively (ngx_http_upstream_add: ngx_strncasecmp)
            upstreams[d["args"][0].lower()] = [m for m in d["children"] if m["name"] == "server" and m["args"]]


def _ngx_static_location(args):
    """(kind, uri) of a `location` as nginx 1.22 sorts it (ngx_http_core_location), kind "exact" (=) or "prefix"
    (none or ^~; both "inclusive"), the modifier apart or stuck to the URI; None for a regex (~, ~*) or named (@)
    location, which no static tree holds."""
    if len(args) == 2:
        modifier, uri = args
        return {"=": ("exact", uri), "^~": ("prefix", uri)}.get(modifier)
    if len(args) != 1:
        return None
    uri = args[0]
    if uri.startswith("="):
        return "exact", uri[1:]
    if uri.startswith("^~"):
        return "prefix", uri[2:]
    return None if uri.startswith(("~", "@")) else ("prefix", uri)


def _ngx_duplicate_location(directives):
    """2: nginx refuses two locations of one level (a server's, or one location's nested ones) with the same URI
    (compared byte for byte) that are both exact or both prefix ("duplicate location", ngx_http_join_exact_locations);
    `location = /a` and `location /a` are two locations, `location /a` and `location ^~ /a` the same. The message,
    or None."""
    seen = set()
    for d in directives:
        static = _ngx_static_location(d["args"]) if d["name"] == "location" and d["children"] is not None else None
        if static in seen:
            return 'duplicate location "%s" in %s:%s: nginx refuses this configuration' % (
                static[1], d["file"], d["line"])
        if static:
            seen.add(static)
    return None


def _ngx_locations(directives, settings, server_names, location, upstreams, prefix, items):
    """upstreams: ({group name: its server lines}, the implicit upstreams' (host, port))"""
    duplicate = _ngx_duplicate_location(directives)
    if duplicate:
        settings = dict(settings)
        _refuse(settings, duplicate)
    for d in directives:
        if d["children"] is None:
            if d["name"] == "proxy_pass" and d["args"] and location is not None:
                items.extend(_ngx_proxy_pass(d, settings, server_names, location, upstreams, prefix))
            continue
        if d["name"] == "location":
            inner = _ngx_level(d["children"], settings, "location")
            _ngx_locations(d["children"], inner, server_names, " ".join(d["args"]), upstreams, prefix, items)
        elif d["name"] in ("if", "limit_except"):  # proxy_pass is allowed there; proxy_ssl_* are not
            _ngx_locations(d["children"], settings, server_names, location, upstreams, prefix, items)


def _ngx_setting(settings, name):
    value, level = settings.get(name) or (_NGX_DEFAULTS.get(name), "default")
    return value, level


_NGX_PATH_VARIABLE = re.compile(r"\$(?:\{(?:request_uri|uri|document_uri)\}|(?:request_uri|uri|document_uri)\b)")


def _ngx_proxy_pass(directive, settings, server_names, location, groups, prefix):
    upstreams, implicit = groups
    url = directive["args"][0]
    scheme, sep, rest = url.partition("://")
    common = {"lb_type": "nginx", "config_file": directive["file"], "line": directive["line"],
              "location": "%s %s" % (server_names[0] if server_names else "_", location)}
    if not sep or scheme.lower() not in ("http", "https"):
        if "$" in url:
            return [backend_item(source="proxy_pass", error={"code": "DYNAMIC_ADDRESS", "message": "proxy_pass %s is "
                                                             "only resolved by nginx at run time" % url}, **common)]
        return []  # grpc_pass, unix: sockets and the like are no TCP/TLS backend
    tls = scheme.lower() == "https"
    if rest[:5].lower() == "unix:":
        return _ngx_unix_pass(url, rest, settings, prefix, tls, common)
    hostport = _ngx_url_host(rest)
    # 2: with variables nginx evaluates the URL at run time, then takes its host as written; a variable that always
    # begins with "/" ($request_uri, $uri, $document_uri) starts the path, so the host before it is fixed.
    path_variable = _NGX_PATH_VARIABLE.search(hostport)
    fixed = hostport[:path_variable.start()] if path_variable else ""
    # (no host, or no port, before it: still only known at run time)
    if fixed and not fixed.endswith(":") and _split_hostport(fixed, 1)[0]:
        hostport = fixed
    if "$" in hostport:
        return [backend_item(source="proxy_pass", pool=hostport, tls=tls, error=_ngx_dynamic(
            url, hostport, settings, prefix, tls), **common)]
    host, port, problem = _split_hostport(hostport, 443 if tls else 80)
    if not (problem or host):
        problem = _ngx_no_host(hostport)
    if problem:
        return [backend_item(source="proxy_pass", pool=hostport, tls=tls, error=_config_error(problem), **common)]
    with_port = ":" in hostport.rsplit("]", 1)[-1]
    # 2: $proxy_host is the URL's host as written, with its port when one is written that is not the scheme's
    # (ngx_http_proxy_set_vars)
    proxy_host = hostport if not with_port or port != (443 if tls else 80) else hostport[:hostport.rindex(":")]
    tls_fields = _ngx_tls(settings, host, prefix, proxy_host) if tls else {"tls": False, "verify": False}
    if "$" in url and not _base.is_ip(host) and not (host.lower() in upstreams and not with_port) and \
            (host.lower(), port) not in implicit and not (settings.get("resolver") or ([], None))[0]:
        # 2: a URL with variables is evaluated per request; a host name no upstream holds is then resolved with
        # nginx's own `resolver`, and without one every request fails ("no resolver defined to resolve ...", 502)
        return [backend_item(source="proxy_pass", pool=hostport, tls=tls, error=_config_error(
            "proxy_pass %s: nginx resolves %s per request, with its resolver, and no resolver is set: every request "
            "fails (no resolver defined)" % (url, host)), **common)]
    if host.lower() in upstreams and with_port:
        return [backend_item(source="proxy_pass", pool=hostport, tls=tls, error=_ngx_upstream_port(host, port),
                             **common)]
    if host.lower() in upstreams:
        # 2: an upstream server without a port is port 80, whatever the proxy_pass scheme.
        return _ngx_members(upstreams[host.lower()], host, 80, dict(common, **tls_fields))
    return [backend_item(source="proxy_pass", pool=hostport, server=hostport, address=host, port=port,
                         **dict(common, **tls_fields))]


def _ngx_unix_pass(url, rest, settings, prefix, tls, common):
    """2: "http(s)://unix:/path:/uri" (ngx_parse_unix_domain_url, "unix:" ignoring case): TLS over a unix-domain
    socket, $proxy_host "localhost". No TCP address: UNSUPPORTED_ADDRESS, not probed, not judged, unless its TLS
    settings make nginx refuse the file (INVALID_CONFIG). Plain http to a socket is no TLS backend: none."""
    if not tls:
        return []
    socket = rest[5:].split(":", 1)[0]
    fields = _ngx_tls(settings, "localhost", prefix, "localhost")
    if not (fields["error"] and fields["error"]["code"] == "INVALID_CONFIG"):
        fields["error"] = {"code": "UNSUPPORTED_ADDRESS", "message": "proxy_pass %s: a unix-domain socket (%s), not "
                           "a TCP address: not probed, not judged" % (url, socket)}
    return [backend_item(source="proxy_pass", pool="unix:%s" % socket, server="unix:%s" % socket,
                         **dict(common, **fields))]


def _ngx_no_host(address):
    """2: an address with no host before its port ("https://:443", an upstream's "server :443;"): nginx refuses the
    file ("no host in upstream"); with a variable in the URL it only fails at run time (DYNAMIC_ADDRESS, above)."""
    return 'no host in upstream "%s": nginx refuses this configuration' % address


def _ngx_strip_port(name):
    """A proxy_ssl_name value as nginx uses it (ngx_http_upstream_ssl_name): cut at the first ':' after an optional
    [IPv6] bracket (from the start when the bracket is not closed)."""
    start = name.find("]") if name.startswith("[") else 0
    cut = name.find(":", max(start, 0))
    return name[:cut] if cut >= 0 else name


# nginx's script variables (ngx_http_script_compile): $name (letters, digits, _) or ${name}; names ignore case
_NGX_PROXY_HOST = re.compile(r"\$(?:\{proxy_host\}|proxy_host(?![A-Za-z0-9_]))", re.IGNORECASE)


def _ngx_tls(settings, host, prefix, proxy_host=None):
    """The TLS fields of a backend reached at host; proxy_host: the value of $proxy_host there (None: host, in
    brackets when an IPv6 address)."""
    verify_args, verify_level = _ngx_setting(settings, "proxy_ssl_verify")
    verify = verify_args[0].lower() == "on"
    name_args, _level = _ngx_setting(settings, "proxy_ssl_name")
    name = name_args[0]
    # 2: proxy_ssl_name defaults to $proxy_host, the proxy_pass host (the upstream's name for a group), port stripped.
    # nginx strips a port from whatever name it is (ngx_http_upstream_ssl_name), so one given with its port too.
    # $proxy_host is static wherever the value names it ($proxy_host or ${proxy_host}, "$proxy_host:1" too): the
    # name checked is the value with it expanded, then cut at its port.
    if proxy_host is None:
        # an IPv6 address as the URL writes it: $proxy_host is [::1]:port, and the name nginx checks is [::1]
        proxy_host = "[%s]" % host if ":" in host else host
    expanded = _NGX_PROXY_HOST.sub(lambda _m: proxy_host, name)
    if "$" in _ngx_strip_port(expanded) or (expanded.startswith("[") and "$" in expanded):
        name = _dynamic(name)
    else:
        name = expanded
        # Cut to nothing (an IPv6 literal without brackets, "::1"): nginx sends no SNI and checks an empty name,
        # which no certificate matches (its error log: does not match ""; _names.rule_matches). The value is
        # reported as configured.
        name = _ngx_strip_port(name) or name
    server_name_on = _ngx_setting(settings, "proxy_ssl_server_name")[0][0].lower() == "on"
    # 2: no SNI unless proxy_ssl_server_name on; then the name, never an IP literal.
    # (nor an empty name or a bracketed one, whose port nginx cut off: "[::1]")
    sni = name if server_name_on and (isinstance(name, dict) or (
        name and not name.startswith("[") and not _base.is_ip(name))) else None
    min_version, max_version, ciphers, ciphersuites, handshake_problem = _ngx_handshake(settings)
    depth, depth_problem = _ngx_depth(_ngx_setting(settings, "proxy_ssl_verify_depth")[0][0])
    ca = settings.get("proxy_ssl_trusted_certificate")
    cert = settings.get("proxy_ssl_certificate")
    key = settings.get("proxy_ssl_certificate_key")
    error = None
    duplicate = settings.get(_DUPLICATE)
    if settings.get(_REFUSED):
        error = _config_error(settings[_REFUSED])
    elif duplicate:
        error = _config_error('"%s" directive is duplicate in %s:%s: nginx refuses this configuration' % duplicate)
    elif verify and not ca:  # 2: nginx refuses proxy_ssl_verify on without proxy_ssl_trusted_certificate
        error = _config_error("proxy_ssl_verify on without proxy_ssl_trusted_certificate: nginx refuses this "
                              "configuration")
    elif depth_problem:
        error = _config_error(depth_problem)
    elif handshake_problem:
        error = {"code": handshake_problem[0], "message": handshake_problem[1]}
    elif cert and cert[0][0] and not key:  # 2: ngx_http_proxy_set_ssl
        inline = cert[0][0].startswith(("data:", "engine:"))  # its value is never echoed (it may hold key text)
        named = "given inline or through an engine" if inline else '"%s"' % cert[0][0]
        error = _config_error('no "proxy_ssl_certificate_key" is defined for certificate %s: nginx refuses this '
                              'configuration' % named)
    # 2: proxy_ssl_trusted_certificate and proxy_ssl_crl take no variables in nginx 1.22 (ngx_conf_set_str_slot, read
    # when nginx starts): a "$" is part of the file's name, unlike proxy_ssl_certificate and _key (variables since
    # 1.21.0, DYNAMIC_PATH below).
    # proxy_ssl_crl: relative to the prefix like the CA; "" undoes an inherited one (ngx_ssl_crl: no CRL). nginx loads
    # it, and sets CRL_CHECK|CRL_CHECK_ALL, only when it verifies (ngx_http_proxy_set_ssl calls ngx_ssl_crl then).
    crl = (settings.get("proxy_ssl_crl") or ([""], None))[0][0]
    fields = {"tls": True, "verify": verify, "verify_origin": verify_level, "sni": sni, "verify_name": name if verify
              else None, "name_rule": "openssl" if verify else None, "check_expiry": verify,
              "ca_file": _confread._absolute(ca[0][0], prefix) if ca else None,
              "crl_file": _confread._absolute(crl, prefix) if crl else None,
              "crl_check": "chain" if crl and verify else "none",
              "verify_depth": depth,
              "client_cert": None, "client_key": None, "client_key_passwords": None,
              "min_version": min_version, "max_version": max_version, "ciphers": ciphers, "ciphersuites": ciphersuites,
              "error": error}
    for key_name, value in (("client_cert", cert), ("client_key", key)):
        if value and value[0][0].startswith(("data:", "engine:")):
            # nginx takes the certificate or key itself (data:) or an engine reference: not a path, and its value
            # (possibly private key text) is never echoed
            fields["error"] = fields["error"] or {"code": "INVALID_CONFIG", "message": "%s is given inline or "
                                                  "through an engine, not as a file: not checked" % key_name}
        elif value and "$" in value[0][0]:
            fields["error"] = fields["error"] or {"code": "DYNAMIC_PATH", "message": "%s is only known to nginx at "
                                                  "run time, not checked" % value[0][0]}
        elif value:
            fields[key_name] = _confread._absolute(value[0][0], prefix)
    # the passwords nginx tries, in turn, on an encrypted client key: a file's path (no variables, no data:), as the
    # CA file relative to the prefix. nginx reads it where it parses the directive, client certificate or not: one it
    # cannot read (or with a line too long) and it does not start.
    passwords = settings.get("proxy_ssl_password_file")
    if passwords:
        from ansible_collections.certops.backend_tls.plugins.module_utils import _probe_lb  # (only then)

        path = _confread._absolute(passwords[0][0], prefix)
        try:
            _probe_lb.read_password_file(path)
        except _base.CertError as exc:
            # what this module alone cannot read (nginx's master reads it as root, of any size, a FIFO too) is the
            # probe's to say where it needs the passwords; anything else (missing, a directory, a line too long)
            # nginx refuses too
            if exc.code not in ("PERMISSION_DENIED", "TOO_LARGE") and not (
                    exc.code == "NOT_REGULAR_FILE" and not os.path.isdir(path)):
                fields["error"] = fields["error"] or {"code": "INVALID_CONFIG", "message": "proxy_ssl_password_file "
                                                      "%s: %s: nginx refuses to start" % (path, exc.message)}
        if fields["client_cert"]:
            fields["client_key_passwords"] = path
    return fields
