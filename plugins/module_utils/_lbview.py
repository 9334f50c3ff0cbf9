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
comments below).

Files are read through _discover.FileSource (the filesystem, or the files of an `nginx -T` dump); the
HAProxy words and the Apache arguments are split by _discover's readers (quotes, escapes, comments,
environment variables, Define). nginx needs directive positions, which _discover's tokens do not carry: its
tokeniser here follows the same rules and adds the line. A line that cannot be understood is an item with
`error` {code: INVALID_CONFIG}; an address or name known only at run time is reported as dynamic, never
guessed. Parsers raise only CertError (an unreadable main file, an include cycle).
"""

from __future__ import annotations

import os
import re
import ssl

from ansible_collections.certops.backend_tls.plugins.module_utils import (
    _base,
    _certs,
    _collect,
    _discover,
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
             "client_key", "min_version", "max_version", "ciphers", "ciphersuites", "health_check", "disabled",
             "backup", "proxy_protocol", "error")
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
        if not _probe.is_ip(host):
            host, port = text, None
    else:
        host, port = text, None
    if port is None or port == "":
        return host, default_port, None if default_port else "no port in %r" % text
    number = port_number(port)  # None also for a run of digits int() would refuse (over 4300)
    if number is None:
        return host, None, "the port of %r is not a port number" % text
    return host, number, None


# ---------------------------------------------------------------- HAProxy (lb-view.md section 1)

# Server keywords that take no value (HAProxy 2.6 configuration.txt 5.2); every no-* and force-* too.
_HA_FLAGS = frozenset((
    "agent-check", "allow-0rtt", "backup", "check", "check-send-proxy", "check-ssl", "check-via-socks4",
    "disabled", "enabled", "non-stick", "ssl", "ssl-reuse", "stick", "tfo", "tls-tickets"))
_HA_VERSIONS = {"SSLv3": None, "TLSv1.0": "TLSv1", "TLSv1.1": "TLSv1.1", "TLSv1.2": "TLSv1.2", "TLSv1.3": "TLSv1.3"}
_HA_NO_VERSION = {"no-sslv3": None, "no-tlsv10": "TLSv1", "no-tlsv11": "TLSv1.1", "no-tlsv12": "TLSv1.2",
                  "no-tlsv13": "TLSv1.3"}
# force-* sets the minimum and the maximum to its version where it stands (HAProxy's own names, as ssl-min-ver's)
_HA_FORCE_VERSION = {"force-sslv3": "SSLv3", "force-tlsv10": "TLSv1.0", "force-tlsv11": "TLSv1.1",
                     "force-tlsv12": "TLSv1.2", "force-tlsv13": "TLSv1.3"}
# The PROXY protocol options a server keyword turns on, and its no- form off (HAProxy 2.6 server.c, cfgparse-ssl.c):
# a header is sent when any is on, version 2 when "v2" is.
_HA_PROXY_BITS = {"send-proxy": ("v1",), "send-proxy-v2": ("v2",), "send-proxy-v2-ssl": ("v2", "ssl"),
                  "send-proxy-v2-ssl-cn": ("v2", "ssl", "cn")}
_HA_NOT_TCP = ("unix@", "abns@", "fd@", "sockpair@", "/", "udp@", "udp4@", "udp6@", "quic4@", "quic6@")
_SNI_LITERAL = re.compile(r"^str\((.*)\)$")


def _ha_apply(settings, words, origin, problems):
    """Apply server keywords ([(word, dynamic)]) to settings {keyword: (value, origin, dynamic)}, in order: a later
    keyword wins, no-* undoes (1.4: a server copies the default-server lines above it, then its own). force-* is
    ssl-min-ver and ssl-max-ver at once, where it stands: whichever of them comes later wins (HAProxy 2.6,
    parse_tls_method_options). no-sslv3 / no-tlsv1x are not accepted on a default-server line: HAProxy warns ("not
    accepted in default-server sections") and ignores them."""
    i = 0
    while i < len(words):
        word = words[i][0]
        if word in _HA_PROXY_BITS:
            bits = settings.setdefault("_proxy_protocol", set())
            bits.update(_HA_PROXY_BITS[word])
            i += 1
            continue
        if word.startswith("no-") and word[3:] in _HA_PROXY_BITS:
            settings.setdefault("_proxy_protocol", set()).difference_update(_HA_PROXY_BITS[word[3:]])
            i += 1
            continue
        if word in _HA_FLAGS:
            if word == "enabled":  # resets a `disabled` inherited from default-server
                settings["disabled"] = (False, origin, False)
            else:
                settings[word] = (True, origin, False)
            i += 1
            continue
        if word.startswith("no-") or word.startswith("force-"):
            if word in _HA_NO_VERSION:
                if origin != "default-server":
                    settings.setdefault("_no_versions", set()).add(_HA_NO_VERSION[word])
            elif word in _HA_FORCE_VERSION:
                settings["ssl-min-ver"] = settings["ssl-max-ver"] = (_HA_FORCE_VERSION[word], origin, False)
            elif word.startswith("no-") and word[3:] in _HA_FLAGS:
                settings[word[3:]] = (False, origin, False)
            elif word.startswith("no-"):
                settings[word[3:]] = (None, origin, False)  # no-verifyhost and the like: back to unset
            i += 1
            continue
        if i + 1 >= len(words):
            problems.append("%s needs a value" % word)
            return
        value, dynamic = words[i + 1]
        settings[word] = (value, origin, dynamic)
        i += 2


def _ha_value(settings, key):
    entry = settings.get(key)
    return (entry[0], entry[1], entry[2]) if entry and entry[0] is not None else (None, None, False)


def _ha_protocols(settings, global_settings):
    """(min, max, problem) from ssl-min-ver / ssl-max-ver / force-* / no-tlsv* of the server (default-server
    included), then of ssl-default-server-options; (None, None, None): no limit set, OpenSSL's own (1.1: no
    server-side floor).

    As HAProxy 2.6 builds a server's range (ssl_sock_init_srv, ssl_sock_prepare_srv_ssl_ctx): the server's own
    minimum and maximum, else the global ones (force-* sets both); the no-tlsv* flags of both, but only when no
    minimum or maximum is set at all (else HAProxy ignores them, with a warning). A range that leaves no version is
    a configuration HAProxy refuses ("all SSL/TLS versions are disabled"): the problem says so."""
    low = high = None
    bounded = False  # a minimum or maximum is set, whichever version it names (SSLv3 too)
    for source in (global_settings, settings):  # force-* is in ssl-min-ver / ssl-max-ver (_ha_apply)
        configured_low, configured_high = _ha_value(source, "ssl-min-ver")[0], _ha_value(source, "ssl-max-ver")[0]
        if configured_low:
            low = _HA_VERSIONS.get(configured_low, low)
            bounded = True
        if configured_high:  # SSLv3 as the maximum leaves no TLS version (this OpenSSL has no SSLv3)
            high = "SSLv3" if configured_high == "SSLv3" else _HA_VERSIONS.get(configured_high, high)
            bounded = True
    excluded = set() if bounded else \
        set(global_settings.get("_no_versions", ())) | set(settings.get("_no_versions", ()))
    lo_i = PROTOCOLS.index(low) if low in PROTOCOLS else 0
    hi_i = PROTOCOLS.index(high) if high in PROTOCOLS else (-1 if high == "SSLv3" else len(PROTOCOLS) - 1)
    allowed = [p for p in PROTOCOLS[lo_i:hi_i + 1] if p not in excluded]
    if not allowed:
        return None, None, ("no SSL/TLS version is left enabled (ssl-min-ver %s, ssl-max-ver %s%s): HAProxy refuses "
                            "this configuration" % (low or "unset", high or "unset", ", no-%s" % ", no-".join(
                                sorted(v for v in excluded if v)) if excluded else ""))
    if not excluded:
        return low, high, None
    return allowed[0], allowed[-1], None


class _HAState:
    def __init__(self, main):
        self.main = main
        self.paths = _discover.HAProxyPaths(main)  # relative paths: ca-base/crt-base, default-path, working dir
        self.ca_base = None
        self.crt_base = None
        self.server_verify = None  # (value, line) of the global ssl-server-verify
        self.global_settings = {}  # ssl-default-server-options, -ciphers, -ciphersuites
        self.env = {}
        self.named_defaults = {}
        self.current_defaults = []
        # a proxy's own `disabled` / `enabled`, which a defaults section hands on to the proxies that use it
        self.named_disabled = {}
        self.current_disabled = False
        self.current_name = None  # the defaults section being read, when it has a name

    def path(self, value, dynamic, base, keyword, system=True):
        if dynamic:
            return None, {"code": "DYNAMIC_PATH", "message": "%s %s is only known to HAProxy at run time (an "
                          "environment variable), not checked" % (keyword, value)}
        if system and value.startswith("@"):  # @system-ca: the operating system's trust store
            return value, None
        return self.paths.absolute(value, base), None


def _count_ok(text):
    return text.isascii() and text.isdigit() and len(text.lstrip("0")) <= MAX_COUNT_DIGITS


def _count(text):
    """int() of a text _count_ok accepted (leading zeros, however many, are not digits int() has to read)."""
    return int(text.lstrip("0") or "0")


def names_ok(count):
    """A server-template count: N or LOW-HIGH, ASCII digits, each at most MAX_COUNT_DIGITS significant ones."""
    low, sep, high = count.partition("-")
    return _count_ok(low) and (not sep or _count_ok(high))


def _ha_server(state, proxy, default_lines, words, line, source):
    """The items of one `server` or `server-template` line (words without the keyword)."""
    problems = []
    settings = {}
    for ds_words, _ds_line in default_lines:
        _ha_apply(settings, ds_words, "default-server", problems)
    if source == "server":
        if len(words) < 2:
            return [backend_item(lb_type="haproxy", config_file=state.main, line=line, pool=proxy, source=source,
                                 server=words[0][0] if words else None,
                                 error=_config_error("server line without an address"))]
        names, (address, address_dynamic), params = [words[0][0]], words[1], words[2:]
    else:
        if len(words) < 3:
            return [backend_item(lb_type="haproxy", config_file=state.main, line=line, pool=proxy, source=source,
                                 error=_config_error("server-template needs a prefix, a number and an address"))]
        prefix, count, (address, address_dynamic), params = words[0][0], words[1][0], words[2], words[3:]
        if not names_ok(count):
            return [backend_item(lb_type="haproxy", config_file=state.main, line=line, pool=proxy, source=source,
                                 error=_config_error("server-template %s: %r is not a number or a range of "
                                                     "numbers of at most %d digits"
                                                     % (prefix, count, MAX_COUNT_DIGITS)))]
        low, _sep, high = count.partition("-")
        low, high = (_count(low), _count(high)) if high else (1, _count(low))
        if high - low >= MAX_TEMPLATE_SERVERS:
            return [backend_item(lb_type="haproxy", config_file=state.main, line=line, pool=proxy, source=source,
                                 error=_config_error("server-template %s: %s servers, more than %d"
                                                     % (prefix, count, MAX_TEMPLATE_SERVERS)))]
        names = ["%s%d" % (prefix, n) for n in range(low, high + 1)]
    _ha_apply(settings, params, "server", problems)
    item = _ha_item(state, proxy, settings, line, source, problems)
    for prefix_ in ("ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@"):
        if address.startswith(prefix_):
            address = address[len(prefix_):]
    error = item["error"]
    host = port = None
    if address_dynamic or "$" in address:
        error = error or {"code": "DYNAMIC_ADDRESS", "message": "the address %s is only known to HAProxy at run "
                          "time (an environment variable)" % address}
    elif address.startswith(_HA_NOT_TCP):
        error = error or {"code": "UNSUPPORTED_ADDRESS", "message": "%s is not a TCP address" % address}
    else:
        host, port, problem = _split_hostport(address, None)
        if problem or address.rsplit(":", 1)[-1][:1] in ("+", "-"):
            error = error or {"code": "UNSUPPORTED_ADDRESS", "message": "the port of %s follows the port the "
                              "client connected to, or is missing: no fixed port to probe" % address}
            port = None
    if source == "server-template" and host and not _probe.is_ip(host):
        # server-template with a DNS name (1.4): the addresses come from resolvers at run time, one per slot; the
        # template is one item, probed at the name.
        names = ["%s[%s]" % (prefix, count if "-" in count else "1-%s" % count)]
    return [dict(item, server=name, address=host, port=port, error=error) for name in names]


def _ha_item(state, proxy, settings, line, source, problems):
    tls = bool(_ha_value(settings, "ssl")[0])
    verify_value, verify_origin, _dyn = _ha_value(settings, "verify")
    if verify_value is None and state.server_verify:
        verify_value, verify_origin = state.server_verify, "global"  # 1.1: ssl-server-verify
    elif verify_value is None:
        verify_value, verify_origin = "required", "default"  # 1.1: ssl-server-verify defaults to required
    verify = tls and verify_value == "required"
    error = _config_error("; ".join(problems)) if problems else None

    sni_value, _origin, sni_dynamic = _ha_value(settings, "sni")
    sni = None
    if sni_value is not None:
        literal = _SNI_LITERAL.match(sni_value)
        sni = literal.group(1) if literal and not sni_dynamic and "$" not in literal.group(1) else _dynamic(sni_value)
        sni = sni or None  # str() is an empty SNI: none is sent
    check_sni = _ha_value(settings, "check-sni")[0]
    verifyhost = _ha_value(settings, "verifyhost")[0]
    # 1.2: the name verified is the SNI sent; without one, verifyhost; without either, none (chain only).
    verify_name = (sni or verifyhost) if verify else None
    check_name = (check_sni or verifyhost) if verify else None

    ca_file = client_cert = client_key = None
    ca_value, _o, ca_dynamic = _ha_value(settings, "ca-file")
    if ca_value:
        ca_file, ca_error = state.path(ca_value, ca_dynamic, state.ca_base, "ca-file")
        error = error or ca_error
    elif verify:  # 1.1: verify on without ca-file is a fatal configuration error
        error = error or _config_error("verify required without ca-file: HAProxy refuses this configuration")
    # crl-file: relative to ca-base like ca-file (srv_parse_crl_file; no @system-ca there). HAProxy loads it with the
    # line, but puts it in the server's store, with CRL_CHECK|CRL_CHECK_ALL, only when it verifies
    # (ssl_sock_prepare_srv_ssl_ctx): no check without verify.
    crl_file = None
    crl_value, _o, crl_dynamic = _ha_value(settings, "crl-file")
    if crl_value and tls:
        crl_file, crl_error = state.path(crl_value, crl_dynamic, state.ca_base, "crl-file", system=False)
        error = error or crl_error
    crl_check = "chain" if crl_value and verify else "none"
    crt_value, _o, crt_dynamic = _ha_value(settings, "crt")
    if crt_value:
        client_cert, crt_error = state.path(crt_value, crt_dynamic, state.crt_base, "crt")
        error = error or crt_error
        if client_cert and os.path.exists(client_cert + ".key"):  # 1.1: ssl-load-extra-files (default: all)
            client_key = client_cert + ".key"
    min_version, max_version, protocol_problem = _ha_protocols(settings, state.global_settings)
    if protocol_problem and tls:
        error = error or _config_error(protocol_problem)
    # 1.1: ciphers / ciphersuites, else ssl-default-server-ciphers(uites), else OpenSSL's default (None).
    ciphers = _ha_value(settings, "ciphers")[0] or _ha_value(state.global_settings, "ciphers")[0]
    ciphersuites = _ha_value(settings, "ciphersuites")[0] or _ha_value(state.global_settings, "ciphersuites")[0]
    check_on = bool(_ha_value(settings, "check")[0])
    # 1.3: the checks' transport (init_srv_check): check-ssl forces TLS, no-check-ssl plain TCP; with neither, the
    # checks use the traffic's transport unless a check `port` or `addr` is set (then plain TCP).
    check_ssl = _ha_value(settings, "check-ssl")[0]
    check_elsewhere = bool(_ha_value(settings, "port")[0] or _ha_value(settings, "addr")[0])
    if check_ssl is None:
        check_ssl = tls and not check_elsewhere
    # 1.3: the PROXY protocol header sent before the handshake: send-proxy (v1), send-proxy-v2* (v2, which wins; a
    # no-send-proxy-v2-ssl(-cn) turns v2 off too, and what is left of send-proxy-v2-ssl sends v1); the checks send it
    # with check-send-proxy, or when the traffic does and no check port or addr is set.
    bits = settings.get("_proxy_protocol") or ()
    proxy_protocol = ("v2" if "v2" in bits else "v1") if bits else None
    check_proxy = (proxy_protocol or "v1") if _ha_value(settings, "check-send-proxy")[0] else (
        None if check_elsewhere else proxy_protocol)
    return backend_item(
        lb_type="haproxy", config_file=state.main, line=line, pool=proxy, source=source, tls=tls,
        verify=verify, verify_origin=verify_origin if tls else None, sni=sni if tls else None,
        check_sni=check_sni if tls else None, verify_name=verify_name, name_rule="haproxy" if verify else None,
        check_expiry=verify, ca_file=ca_file if tls else None, crl_file=crl_file, crl_check=crl_check,
        client_cert=client_cert if tls else None,
        client_key=client_key if tls else None, min_version=min_version if tls else None,
        max_version=max_version if tls else None, ciphers=ciphers if tls else None,
        ciphersuites=ciphersuites if tls else None,
        health_check={"enabled": check_on, "tls": check_on and check_ssl and tls,
                      "sni": check_sni if check_on and check_ssl and tls else None,
                      "verify_name": check_name if check_on and check_ssl else None,
                      "proxy_protocol": check_proxy if check_on else None},
        disabled=bool(_ha_value(settings, "disabled")[0]), backup=bool(_ha_value(settings, "backup")[0]),
        proxy_protocol=proxy_protocol, error=error)


_HA_SECTIONS = _discover._HAPROXY_SECTIONS


def haproxy_backends(main, source):
    """Every `server` / `server-template` of every `backend` and `listen` section of an haproxy.cfg."""
    source.reads = 0
    state = _HAState(main)
    section = proxy = None
    proxy_defaults, proxy_disabled = [], False
    items, in_section = [], []  # every server; those of the section being read
    conditions = _discover.HAConditions(state.env)
    for lineno, raw in enumerate(source.read(main).splitlines(), start=1):
        tokens = _discover._haproxy_words(raw.strip(), state.env)
        if not tokens or conditions.skip(tokens):  # .if blocks HAProxy skips, and the .if lines themselves
            continue
        keyword = tokens[0][0]
        if keyword in _HA_SECTIONS:
            _ha_stopped(in_section, proxy_disabled)
            items.extend(in_section)
            in_section, section = [], keyword
            args = [w for w, _d in tokens[1:]]
            name = args[0] if args and args[0] != "from" else None
            parent = args[args.index("from") + 1] if "from" in args[:-1] else None
            inherited = list(state.named_defaults.get(parent, [])) if parent else list(state.current_defaults)
            disabled = state.named_disabled.get(parent, False) if parent else state.current_disabled
            if section == "defaults":
                state.current_defaults = inherited if parent else []
                state.current_disabled = disabled if parent else False
                if name:
                    state.named_defaults[name] = state.current_defaults
                    state.named_disabled[name] = state.current_disabled
                state.current_name = name
            elif section in ("backend", "listen"):
                proxy, proxy_defaults, proxy_disabled = name, inherited, disabled
            continue
        if section == "global":
            _ha_global(state, tokens)
        elif keyword in ("disabled", "enabled") and section == "defaults":
            state.current_disabled = keyword == "disabled"
            if state.current_name:
                state.named_disabled[state.current_name] = state.current_disabled
        elif keyword in ("disabled", "enabled") and section in ("backend", "listen"):
            proxy_disabled = keyword == "disabled"
        elif keyword == "default-server" and section == "defaults":
            state.current_defaults.append((tokens[1:], lineno))
        elif keyword == "default-server" and section in ("backend", "listen"):
            proxy_defaults = proxy_defaults + [(tokens[1:], lineno)]
        elif keyword in ("server", "server-template") and section in ("backend", "listen"):
            in_section.extend(_ha_server(state, proxy, proxy_defaults, tokens[1:], lineno, keyword))
    _ha_stopped(in_section, proxy_disabled)
    return items + in_section


def _ha_stopped(servers, proxy_disabled):
    """A proxy that is `disabled` (its own, or from its defaults section; its last word on it counts, wherever it
    stands in the section) is stopped: HAProxy neither checks nor uses any of its servers."""
    for item in servers:
        item["disabled"] = item["disabled"] or proxy_disabled


def _ha_global(state, tokens):
    words = [w for w, _d in tokens]
    keyword = words[0]
    if keyword in ("setenv", "presetenv") and len(words) > 2 and not tokens[2][1]:
        if keyword == "setenv" or words[1] not in state.env:
            state.env[words[1]] = words[2]
    elif keyword == "ca-base" and len(words) > 1:
        state.ca_base = words[1]
    elif keyword == "crt-base" and len(words) > 1:
        state.crt_base = words[1]
    elif keyword == "default-path":
        state.paths.set_default(words)
    elif keyword == "ssl-server-verify" and len(words) > 1:
        state.server_verify = words[1]
    elif keyword == "ssl-default-server-options":
        _ha_apply(state.global_settings, tokens[1:], "global", [])
    elif keyword == "ssl-default-server-ciphers" and len(words) > 1:
        state.global_settings["ciphers"] = (words[1], "global", tokens[1][1])
    elif keyword == "ssl-default-server-ciphersuites" and len(words) > 1:
        state.global_settings["ciphersuites"] = (words[1], "global", tokens[1][1])


# ---------------------------------------------------------------- nginx (lb-view.md section 2)

_NGX_SETTINGS = ("proxy_ssl_verify", "proxy_ssl_trusted_certificate", "proxy_ssl_name", "proxy_ssl_server_name",
                 "proxy_ssl_protocols", "proxy_ssl_ciphers", "proxy_ssl_certificate", "proxy_ssl_certificate_key",
                 "proxy_ssl_verify_depth", "proxy_ssl_conf_command", "proxy_ssl_crl", "resolver")
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


def _ngx_level(directives, inherited, level, names=_NGX_SETTINGS):
    """Settings of one level (http, server, location; stream, server): its own proxy_ssl_* override the inherited
    ones (2: merged http -> server -> location, the lowest level that sets one wins)."""
    settings = dict(inherited)
    commands = []
    for d in directives:
        if d["children"] is None and d["name"] in names and d["args"]:
            if d["name"] == "proxy_ssl_conf_command":
                commands.append(d["args"])
            else:
                settings[d["name"]] = (d["args"], level)
    if commands:  # inherited only by a level that has none of its own
        settings["proxy_ssl_conf_command"] = (commands, level)
    return settings


def nginx_backends(main, source, prefix=None, version=None):
    """Every backend of every `proxy_pass` of an nginx configuration (relative paths: the main file's directory).
    version: the nginx that reads it, (major, minor, patch), for the defaults that changed (None: 1.22's)."""
    source.reads = 0
    prefix = prefix or os.path.dirname(main)
    tree = _discover.nginx_tree(main, source, prefix, strict=True)
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
            host, port, problem = _split_hostport((rest if sep else scheme).split("/", 1)[0], default)
            if host and not problem and port is not None:
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


def _ngx_locations(directives, settings, server_names, location, upstreams, prefix, items):
    """upstreams: ({group name: its server lines}, the implicit upstreams' (host, port))"""
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
    hostport = rest.split("/", 1)[0]
    # 2: with variables nginx evaluates the URL at run time, then takes its host as written; a variable that always
    # begins with "/" ($request_uri, $uri, $document_uri) starts the path, so the host before it is fixed.
    path_variable = _NGX_PATH_VARIABLE.search(hostport)
    fixed = hostport[:path_variable.start()] if path_variable else ""
    # (no host, or no port, before it: still only known at run time)
    if fixed and not fixed.endswith(":") and _split_hostport(fixed, 1)[0]:
        hostport = fixed
    tls = scheme.lower() == "https"
    if "$" in hostport:
        return [backend_item(source="proxy_pass", pool=hostport, tls=tls, error=_ngx_dynamic(
            url, hostport, settings, prefix, tls), **common)]
    host, port, problem = _split_hostport(hostport, 443 if tls else 80)
    if not (problem or host):
        problem = _ngx_no_host(hostport)
    if problem:
        return [backend_item(source="proxy_pass", pool=hostport, tls=tls, error=_config_error(problem), **common)]
    tls_fields = _ngx_tls(settings, host, prefix) if tls else {"tls": False, "verify": False}
    with_port = ":" in hostport.rsplit("]", 1)[-1]
    if "$" in url and not _probe.is_ip(host) and not (host.lower() in upstreams and not with_port) and \
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


def _ngx_tls(settings, host, prefix):
    verify_args, verify_level = _ngx_setting(settings, "proxy_ssl_verify")
    verify = verify_args[0].lower() == "on"
    name_args, _level = _ngx_setting(settings, "proxy_ssl_name")
    name = name_args[0]
    # 2: proxy_ssl_name defaults to $proxy_host, the proxy_pass host (the upstream's name for a group), port stripped.
    # nginx strips a port from whatever name it is (ngx_http_upstream_ssl_name), so one given with its port too.
    if name == "$proxy_host":
        name = host
    elif "$" in _ngx_strip_port(name) or (name.startswith("[") and "$" in name):
        name = _dynamic(name)
    else:
        # Cut to nothing (an IPv6 literal without brackets, "::1"): nginx sends no SNI and hands OpenSSL's
        # X509_check_host a length of 0, which it reads as strlen(): the whole value is checked (test_lb_name_rules).
        name = _ngx_strip_port(name) or name
    server_name_on = _ngx_setting(settings, "proxy_ssl_server_name")[0][0].lower() == "on"
    # 2: no SNI unless proxy_ssl_server_name on; then the name, never an IP literal.
    # (nor an empty name or a bracketed one, whose port nginx cut off: "[::1]")
    sni = name if server_name_on and (isinstance(name, dict) or (
        name and not name.startswith("[") and not _probe.is_ip(name))) else None
    min_version, max_version, ciphers, ciphersuites, handshake_problem = _ngx_handshake(settings)
    ca = settings.get("proxy_ssl_trusted_certificate")
    cert = settings.get("proxy_ssl_certificate")
    key = settings.get("proxy_ssl_certificate_key")
    error = None
    if verify and not ca:  # 2: nginx refuses proxy_ssl_verify on without proxy_ssl_trusted_certificate
        error = _config_error("proxy_ssl_verify on without proxy_ssl_trusted_certificate: nginx refuses this "
                              "configuration")
    elif handshake_problem:
        error = {"code": handshake_problem[0], "message": handshake_problem[1]}
    # proxy_ssl_crl: relative to the prefix like the CA; "" undoes an inherited one (ngx_ssl_crl: no CRL). nginx loads
    # it, and sets CRL_CHECK|CRL_CHECK_ALL, only when it verifies (ngx_http_proxy_set_ssl calls ngx_ssl_crl then).
    crl = (settings.get("proxy_ssl_crl") or ([""], None))[0][0]
    fields = {"tls": True, "verify": verify, "verify_origin": verify_level, "sni": sni, "verify_name": name if verify
              else None, "name_rule": "openssl" if verify else None, "check_expiry": verify,
              "ca_file": _discover._absolute(ca[0][0], prefix) if ca else None,
              "crl_file": _discover._absolute(crl, prefix) if crl else None,
              "crl_check": "chain" if crl and verify else "none",
              "verify_depth": _depth(_ngx_setting(settings, "proxy_ssl_verify_depth")[0][0]),
              "client_cert": None, "client_key": None,
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
            fields[key_name] = _discover._absolute(value[0][0], prefix)
    for key_name in ("ca_file", "crl_file"):
        if fields[key_name] and "$" in fields[key_name]:
            fields[key_name] = None
    return fields


# ---------------------------------------------------------------- Apache (lb-view.md section 3)

_AP_SSL = ("sslproxyengine", "sslproxyverify", "sslproxyverifydepth", "sslproxycacertificatefile",
           "sslproxycacertificatepath", "sslproxycheckpeername", "sslproxycheckpeercn", "sslproxycheckpeerexpire",
           "sslproxymachinecertificatefile", "sslproxyprotocol", "sslproxyciphersuite", "proxypreservehost",
           "sslproxycarevocationfile", "sslproxycarevocationpath", "sslproxycarevocationcheck")
_AP_NAMES = {name.lower(): name for name in (  # as Apache's documentation writes them, for messages
    "SSLProxyEngine", "SSLProxyVerify", "SSLProxyVerifyDepth", "SSLProxyCACertificateFile",
    "SSLProxyCACertificatePath", "SSLProxyCheckPeerName", "SSLProxyCheckPeerCN", "SSLProxyCheckPeerExpire",
    "SSLProxyMachineCertificateFile", "SSLProxyProtocol", "SSLProxyCipherSuite", "ProxyPreserveHost",
    "SSLProxyCARevocationFile", "SSLProxyCARevocationPath", "SSLProxyCARevocationCheck")}
_AP_TLS_SCHEMES = ("https", "wss", "h2")
_AP_PLAIN_SCHEMES = ("http", "ws", "h2c")


class _ApacheScope:
    """The main server or one VirtualHost: its settings, ProxyPass lines and <Proxy> sections."""

    def __init__(self, name, file, line):
        self.name, self.file, self.line = name, file, line
        self.settings = {}  # lowercased directive -> (args, line, file)
        self.passes = []  # (path, url, line, file, parameters, problem or None)
        # {url, settings, members: [(url, line, file)], section: a <Proxy> section (not a balancer named only by
        # BalancerMember), ssl: the section holds a mod_ssl directive}
        self.proxies = []
        self.listens = []  # the main server's Listen addresses


def apache_backends(main, source, server_root=None, defines=None):
    """Every backend of every ProxyPass / ProxyPassMatch / BalancerMember of an Apache configuration tree."""
    source.reads = 0
    state = _discover._ApacheState(source, server_root or os.path.dirname(main), dict(defines or {}))
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
        for path, url, line, file, _params, problem in scope.passes:
            # 3: mod_proxy copies the main server's ProxyPass (and <Location> ProxyPass) into every VirtualHost
            # (merge_proxy_config), and a request through a VirtualHost connects with that VirtualHost's SSLProxy*
            # settings: one item per VirtualHost, and one for the main server only where it answers requests itself.
            servers = [scope] if scope is not main_scope else ([main_scope] if main_serves else []) + vhosts
            for server in servers:
                for item in _ap_pass(state, main_scope, server, path, url, line, file):
                    if item["source"] == "ProxyPass":  # a worker: the parameters of the one Apache uses for it
                        item.update(_ap_member_status(_ap_worker_params(workers[id(server)], url), drain=False))
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
    if depth > _discover.MAX_INCLUDE_DEPTH:
        raise CertError("INVALID_CONFIG", "Include nesting deeper than %d at %s" % (_discover.MAX_INCLUDE_DEPTH, path))
    stack = stack + (path,)
    for line, written in _discover.apache_lines(state.source.read(path)):
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
            tag, rest = _discover.apache_directive(text[1:])
            tag = tag.lower()
            ctx["tags"].append(tag)
            args = _discover.apache_words(_discover._apache_section(rest))
            if tag == "virtualhost":
                ctx["scope"] = _ApacheScope(" ".join(args), path, line)
                scopes.append(ctx["scope"])
            elif tag == "proxy" and args:
                ctx["proxy"] = {"url": args[0], "settings": {}, "members": [], "section": True, "ssl": False}
                ctx["scope"].proxies.append(ctx["proxy"])
            elif tag == "proxymatch":  # a regex: applied to no backend here
                ctx["proxy"] = {"url": None, "settings": {}, "members": [], "section": True, "ssl": False}
            elif tag in ("location", "locationmatch"):
                ctx["location"] = args[0] if args else ""
            continue
        word, rest = _discover.apache_directive(text)
        key, args = word.lower(), _discover.apache_words(rest)
        if key in _AP_SSL:
            problem = _ap_refused_setting(key, args) if args or key not in _AP_ONE_ARG else \
                "%s without an argument: Apache refuses this configuration" % _AP_NAMES[key]
            if problem and not ctx["refused"]:
                ctx["refused"] = "%s (%s, line %s)" % (problem, path, line)
        if not args:
            continue
        if key in ("include", "includeoptional"):
            for included in state.source.glob(_discover._absolute(args[0], state.server_root)):
                if included in stack:
                    raise CertError("INVALID_CONFIG", "Include cycle: %s includes %s again" % (path, included))
                _ap_file(included, state, ctx, scopes, depth + 1, stack)
        elif key == "define" and len(args) > 1:
            state.defines[args[0]] = args[1]
        elif key == "serverroot":
            state.server_root = args[0]
        elif key == "listen":
            scopes[0].listens.append(args[0])
        if ctx["proxy"] is not None and key.startswith("ssl"):
            ctx["proxy"]["ssl"] = True  # mod_ssl keeps a configuration of its own for this section (see _ap_settings)
        if key in _AP_SSL:
            if ctx["proxy"] is not None:
                ctx["proxy"]["settings"][key] = (args, line, path, "proxy")
            else:
                ctx["scope"].settings[key] = (args, line, path, "virtualhost" if ctx["scope"].name else "server")
        elif key in ("proxypass", "proxypassmatch"):
            if ctx["location"] is not None and len(args) >= 1 and "://" in args[0]:
                ctx["scope"].passes.append((ctx["location"], args[0], line, path, args[1:], None))
            elif ctx["location"] is not None and len(args) >= 2 and "://" in args[1]:
                # 3: Apache refuses a path here ("ProxyPass|ProxyPassMatch can not have a path when defined in a
                # location")
                ctx["scope"].passes.append((ctx["location"], args[1], line, path, args[2:], "%s can not have a path "
                                            "inside <Location>: Apache refuses this configuration" % word))
            elif len(args) >= 2:
                ctx["scope"].passes.append((args[0], args[1], line, path, args[2:], None))
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


def _ap_settings(main_scope, scope, request_url):
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
    ProxyPreserveHost (mod_proxy's) merges through every layer as usual."""
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
    preserve = _ap_merge(layers + [p["settings"] for _owner, p in matching]).get("proxypreservehost")
    settings.pop("proxypreservehost", None)
    if preserve:
        settings["proxypreservehost"] = preserve
    return settings


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


def _ap_pass(state, main_scope, scope, path, url, line, file):
    if url == "!":
        return []
    scheme = url.partition("://")[0].lower()
    location = "%s %s" % (scope.name or "main server", path)
    common = {"lb_type": "apache", "location": location}
    if scheme == "balancer":
        name = "/".join(url.split("/", 3)[:3])  # balancer://name
        balancer = _ap_balancer(scope, name) or _ap_balancer(main_scope, name)
        if balancer is None:
            return [backend_item(config_file=file, line=line, source="ProxyPass", pool=url, error=_config_error(
                "%s is not defined (no <Proxy %s> with BalancerMember)" % (url, url)), **common)]
        settings = _ap_settings(main_scope, scope, url)
        out = []
        for member, m_line, m_file, params in balancer["members"]:
            item = _ap_item(state, [settings], member, m_file, m_line, "BalancerMember", balancer["url"], common)
            if item:
                item.update(_ap_member_status(params))
                out.append(item)
        return out
    item = _ap_item(state, [_ap_settings(main_scope, scope, url)], url, file, line, "ProxyPass", None, common)
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
    for _path, url, _line, _file, params, _problem in scope.passes:
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


def _depth(text):
    """A configured verify depth, or None when it is not a plain (ASCII) number the server reads as an int (at
    most MAX_COUNT_DIGITS significant digits; int() refuses more than 4300)."""
    text = text or ""
    return _count(text) if _count_ok(text) else None


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
               "sslproxycarevocationpath": None}


_AP_SUITES = ("SSL", "TLSv1.3")  # SSLProxyCipherSuite's protocols, compared as written (mod_ssl: strcmp)


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


def _ap_item(state, layers, url, file, line, source, pool, common):
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
    sni = name if isinstance(name, dict) or not _probe.is_ip(name) else None  # 3: never an IP literal as SNI
    ca_file = settings.get("sslproxycacertificatefile")
    ca_path = settings.get("sslproxycacertificatepath")
    cert = settings.get("sslproxymachinecertificatefile")
    protocols = (settings.get("sslproxyprotocol") or (["all", "-SSLv3"], None, None))[0]
    min_version, max_version = _ap_version_range(_ap_protocols(protocols))
    protocol_problem = None if min_version else (
        "SSLProxyProtocol %s leaves no protocol version enabled: Apache refuses this configuration"
        % " ".join(protocols))
    ciphers, ciphersuites = "DEFAULT:!aNULL:!eNULL:!EXP", None  # 3: OpenSSL DEFAULT + :!aNULL:!eNULL:!EXP
    suite = settings.get("sslproxyciphersuite")
    if suite:
        args = suite[0]
        if len(args) > 1 and args[0] in _AP_SUITES:
            if args[0] == "TLSv1.3":
                ciphersuites = args[1]
            else:
                ciphers = args[1]
        else:
            ciphers = args[0]
    depth, depth_problem = _ap_depth((settings.get("sslproxyverifydepth") or (["1"], None, None))[0][0])
    # (3: default 1, the anchor counted)
    crl_file, crl_path = settings.get("sslproxycarevocationfile"), settings.get("sslproxycarevocationpath")
    crl_check, crl_missing_ok, crl_problem = _ap_crl_check(settings.get("sslproxycarevocationcheck"))
    if crl_problem is None and crl_check != "none" and not (crl_file or crl_path):
        crl_problem = ("SSLProxyCARevocationCheck %s without SSLProxyCARevocationFile or SSLProxyCARevocationPath: "
                       "Apache refuses this configuration (AH01899)" % crl_check)
    for problem in (crl_problem, protocol_problem, depth_problem):
        if problem:
            error = error or _config_error(problem)
    if verify_args[0].lower() == "optional_no_ca" and error is None:
        error = {"code": "UNSUPPORTED_SETTING", "message": "SSLProxyVerify optional_no_ca: Apache forgives an "
                 "untrusted issuer there and keeps every other check of the chain (its dates, the depth, "
                 "revocation), which cert_chain_verify cannot reproduce: not judged"}

    def path(entry):
        if not entry:
            return None
        value = entry[0][0]
        return _discover._absolute(value, state.server_root) if not _discover._APACHE_VAR.search(value) else None

    return backend_item(
        verify=verify, verify_origin=verify_origin, sni=sni, verify_name=name if name_rule else None,
        name_rule=name_rule, check_expiry=verify or _ap_flag(settings, "sslproxycheckpeerexpire") is not False,
        ca_file=path(ca_file), ca_path=path(ca_path), crl_file=path(crl_file), crl_path=path(crl_path),
        crl_check=crl_check, crl_missing_ok=crl_missing_ok, verify_depth=depth,
        client_cert=path(cert), min_version=min_version, max_version=max_version, ciphers=ciphers,
        ciphersuites=ciphersuites, error=error, **fields)


# ---------------------------------------------------------------- entry point

def lb_backends(lb_type, config, source=None, version=None):
    """The backends of one load balancer from its main configuration file (filesystem unless `source`); version:
    the nginx version, when known."""
    source = source or _discover.FileSource()
    if lb_type == "haproxy":
        return haproxy_backends(config, source)
    if lb_type == "nginx":
        return nginx_backends(config, source, version=version)
    if lb_type == "apache":
        return apache_backends(config, source)
    raise CertError("INVALID_ARGUMENT", "unknown load balancer type %r" % lb_type)


def installed(lb_type):
    """Whether the usual main configuration file of lb_type exists on this host (lb_type: auto)."""
    return any(os.path.exists(p) for p in _discover.DEFAULT_CONFIGS[lb_type])


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
    return [(name, os.path.expanduser(config.get(name) or _discover.default_config(name))) for name in seen]


def _read_config(lb_type, path, run_command, version=None):
    source = None
    if lb_type == "nginx" and run_command is not None:
        source = _discover.dump_source(run_command(lb_type, path), path)
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
    material = _certs.parse_material(data)
    refused = set(der for der, trust in _material.trusted_blocks(data) if trust is False)
    ders = material["ders"]
    if directory:
        if material["format"] != "pem" or not ders:
            raise CertError("NOT_A_CERTIFICATE", "no PEM certificate")
        ders = ders[:1] if rule == "haproxy" else [der for der in ders if _subject_hash(der) == prefix]
    kept = [der for der in ders if der not in refused]
    return kept, len(ders) - len(kept)


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
            ders, untrusted = _anchor_ders(name, prefix, rule, directory)
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
    directory named as a file (nginx and Apache refuse it; HAProxy loads only its certificates)."""
    try:
        data = _base.read_file(path, max_bytes=MAX_CRL_BYTES)
        crls = _certs.load_crls(data)
    except CertError as exc:
        return None, _crl_error(path, "NOT_A_CRL" if exc.code == "NOT_A_CERTIFICATE" else exc.code, exc.message)
    if b"-----BEGIN" not in data:  # load_crls took it as one DER CRL
        return None, _crl_error(path, "NOT_A_CRL", "a DER CRL: the load balancer reads PEM CRL files only")
    return crls, None


def _crl_directory(path):
    """[(der, crl)] of the CRLs OpenSSL finds in a hashed directory (Apache's SSLProxyCARevocationPath), or an
    error. OpenSSL's directory lookup opens only <issuer name hash>.r0, .r1, ... in turn (c_rehash's names) and
    takes from them only CRLs of that issuer: other names (crl.pem), a number after a gap, or a CRL filed under
    another issuer's hash are never read."""
    try:
        files = _hashed_directory(path, "r", "NOT_A_CRL")
    except CertError as exc:
        return None, _crl_error(path, exc.code, exc.message)
    found = []
    for prefix, name in files:
        crls, _error = _crl_file(name)
        found.extend((der, crl) for der, crl in crls or [] if _hash_of(crl.issuer) == prefix)
    if not found:
        return None, _crl_error(path, "NOT_A_CRL", "no certificate revocation list under its issuer's hashed name "
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
                              "ciphers": item["ciphers"]}}
    if item["client_cert"]:
        target.update(client_cert=item["client_cert"], client_key=item["client_key"])
    proxy_protocol = check.get("proxy_protocol") if check else item.get("proxy_protocol")
    if proxy_protocol:
        target["proxy_protocol"] = proxy_protocol
    return target


def _target_key(target):
    settings = target["lb_settings"]
    return (target["host"], target["port"], target["server_name"], target.get("client_cert"), target.get("client_key"),
            settings["min_version"], settings["max_version"], settings["ciphers"], target.get("proxy_protocol"))


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
    collector = _collect.Collector(include_pem=include_pem, chain_pem=chain_pem, now=now)
    items, configs = [], []
    for lb_type, path in specs:
        status = {"lb_type": lb_type, "config_file": path, "backends": 0, "error": None, "version": None}
        version = None
        if lb_type == "nginx":
            version = nginx_version(version_of(lb_type) if version_of else None)
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
        item["ca_fingerprints"] = fingerprints if (item["ca_file"] or item["ca_path"]) else None
        fingerprints = []
        for key, read in (("crl_file", _crl_file), ("crl_path", _crl_directory)):
            if item[key]:
                if (key, item[key]) not in revocations:  # each file read once per run, as the CA files
                    revocations[(key, item[key])] = read(item[key])
                found, error = revocations[(key, item[key])]
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
