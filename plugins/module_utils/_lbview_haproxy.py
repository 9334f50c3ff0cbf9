# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The load balancer's view, HAProxy's part (lb-view.md section 1): the backends of an HAProxy configuration, as
_lbview.lb_backends returns them (_lbview.backend_item). Imported only for a run that reads HAProxy."""

from __future__ import annotations

import os
import re

from ansible_collections.certops.backend_tls.plugins.module_utils import _base, _certs, _confread
from ansible_collections.certops.backend_tls.plugins.module_utils._lbview import (
    MAX_COUNT_DIGITS,
    MAX_TEMPLATE_SERVERS,
    PROTOCOLS,
    _config_error,
    _count,
    _count_ok,
    _dynamic,
    _split_hostport,
    backend_item,
    cipher_list_problem,
)

# Server keywords that take no value (HAProxy 2.6 configuration.txt 5.2); the no-* and force-* below too.
_HA_FLAGS = frozenset((
    "agent-check", "allow-0rtt", "backup", "check", "check-send-proxy", "check-ssl", "check-via-socks4",
    "disabled", "enabled", "non-stick", "ssl", "ssl-reuse", "stick", "tfo", "tls-tickets"))
# The flags HAProxy 2.6 has a no- form of (server.c, cfgparse-ssl.c; no-send-proxy* in _HA_PROXY_BITS, no-sslv3 and
# no-tlsv1x in _HA_NO_VERSION): any other no-* (no-verifyhost, no-sni, no-verify, no-allow-0rtt...) is an unknown
# keyword, and HAProxy refuses the configuration.
_HA_NO_FLAGS = frozenset(("no-agent-check", "no-backup", "no-check", "no-check-send-proxy", "no-check-ssl", "no-ssl",
                          "no-ssl-reuse", "no-tfo", "no-tls-tickets"))
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


# what ssl_sock_init_srv takes from the global section (and the no-sslv3 / no-tlsv1x flags, "_no_versions")
_HA_GLOBAL_LISTS = ("ciphers", "ciphersuites", "ssl-min-ver", "ssl-max-ver")


def _ha_ciphers_init(settings, global_settings):
    """HAProxy 2.6 ssl_sock_init_srv, run by `ssl`, `check-ssl`, and `no-ssl` on a server TLS is on for: a server
    without a cipher list (or TLS 1.3 suites) of its own takes ssl-default-server-ciphers (-ciphersuites), there and
    then; and likewise ssl-default-server-options' ssl-min-ver and ssl-max-ver (each, force-* both), and its
    no-sslv3 / no-tlsv1x flags are added to the server's. A global section after that keyword gives it nothing."""
    for key in _HA_GLOBAL_LISTS:
        if _ha_value(settings, key)[0] is None and global_settings and \
                _ha_value(global_settings, key)[0] is not None:
            settings[key] = global_settings[key]
    if global_settings and global_settings.get("_no_versions"):
        settings["_no_versions"] = set(settings.get("_no_versions", ())) | global_settings["_no_versions"]


def _ha_apply(settings, words, origin, problems, global_settings=None):
    """Apply server keywords ([(word, dynamic)]) to settings {keyword: (value, origin, dynamic)}, in order: a later
    keyword wins, the no- form of a flag undoes it (1.4: a server copies the default-server lines above it, then its
    own); any other no-* is an unknown keyword HAProxy refuses (a problem). A keyword from HAProxy's environment
    makes the line's keywords unknown ("_dynamic_keyword": not judged). force-* is
    ssl-min-ver and ssl-max-ver at once, where it stands: whichever of them comes later wins (HAProxy 2.6,
    parse_tls_method_options). no-sslv3 / no-tlsv1x are not accepted on a default-server line: HAProxy warns ("not
    accepted in default-server sections") and ignores them.

    The cipher list follows HAProxy 2.6's server keywords (cfgparse-ssl.c) where they stand: `ssl` and `check-ssl`
    give a server without one ssl-default-server-ciphers (global_settings: the global section as read where the
    line stands, a default-server line's own), and ciphersuites likewise; `no-check-ssl` drops the server's list,
    and so does `no-ssl` where TLS is not yet on (where it is, `no-ssl` gives the global list first). A list
    dropped and not given again leaves OpenSSL's default, not the global one. ssl-default-server-options' protocol
    range and no-tlsv1x flags are given there too (_ha_ciphers_init)."""
    i = 0
    while i < len(words):
        word = words[i][0]
        if words[i][1]:  # a keyword from HAProxy's environment ("${VAR[*]}"): which ones the line holds is not known
            settings["_dynamic_keyword"] = (word, origin, True)
            i += 1
            continue
        if word in ("ssl", "check-ssl"):
            _ha_ciphers_init(settings, global_settings)
        elif word == "no-ssl":
            if _ha_value(settings, "ssl")[0]:
                _ha_ciphers_init(settings, global_settings)
            else:
                settings["ciphers"] = (None, origin, False)
        elif word == "no-check-ssl":
            settings["ciphers"] = (None, origin, False)
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
            elif word in _HA_NO_FLAGS:
                settings[word[3:]] = (False, origin, False)
            else:  # HAProxy 2.6: "'server be/s' : unknown keyword 'no-sni'"
                problems.append("unknown keyword %s: HAProxy 2.6 has no such %s keyword, and refuses this "
                                "configuration" % (word, origin))
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
    included; what ssl-default-server-options gave it where its `ssl` stands, _ha_ciphers_init); (None, None,
    None): no limit set, OpenSSL's own (1.1: no server-side floor).

    As HAProxy 2.6 builds a server's range (ssl_sock_init_srv, ssl_sock_prepare_srv_ssl_ctx): its minimum and
    maximum (force-* sets both); its no-tlsv* flags, but only when no minimum or maximum is set at all (else HAProxy
    ignores them, with a warning). An unknown version name in ssl-default-server-options (global_settings) is refused
    wherever it stands. A version HAProxy takes from an environment variable gives ("DYNAMIC", why) as the problem.
    A range that leaves no version is a configuration HAProxy refuses ("all SSL/TLS versions are disabled"): the
    problem says so."""
    low = high = None
    bounded = False  # a minimum or maximum is set, whichever version it names (SSLv3 too)
    for source in (global_settings, settings):  # force-* is in ssl-min-ver / ssl-max-ver (_ha_apply)
        if source is global_settings:  # (only its version names: what it gives a server is in settings)
            names = [_ha_value(source, key)[0] for key in ("ssl-min-ver", "ssl-max-ver") if not
                     _ha_value(source, key)[2]]
            unknown = [v for v in names if v and v not in _HA_VERSIONS]
            if unknown:
                return None, None, ("unknown SSL/TLS version %s (HAProxy knows %s): HAProxy refuses this "
                                    "configuration" % (unknown[0], ", ".join(_HA_VERSIONS)))
            continue
        (configured_low, _o, low_dynamic), (configured_high, _o, high_dynamic) = (
            _ha_value(source, "ssl-min-ver"), _ha_value(source, "ssl-max-ver"))
        dynamic = [v for v, flag in ((configured_low, low_dynamic), (configured_high, high_dynamic)) if v and flag]
        if dynamic:  # HAProxy expands "${VAR}" (in double quotes only) from its environment: not known here
            return None, None, ("DYNAMIC", "the SSL/TLS version %s is only known to HAProxy at run time (an "
                                "environment variable): not judged" % dynamic[0])
        unknown = [v for v in (configured_low, configured_high) if v and v not in _HA_VERSIONS]
        if unknown:  # HAProxy 2.6: "'ssl-min-ver' : unknown ssl/tls version string 'TLSv1.4'"
            return None, None, ("unknown SSL/TLS version %s (HAProxy knows %s): HAProxy refuses this configuration"
                                % (unknown[0], ", ".join(_HA_VERSIONS)))
        if configured_low:
            low = _HA_VERSIONS.get(configured_low, low)
            bounded = True
        if configured_high:  # SSLv3 as the maximum leaves no TLS version (this OpenSSL has no SSLv3)
            high = "SSLv3" if configured_high == "SSLv3" else _HA_VERSIONS.get(configured_high, high)
            bounded = True
    excluded = set() if bounded else set(settings.get("_no_versions", ()))
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


def _ha_crt_key(crt, state):
    """(the file HAProxy takes a server crt's key from, or None: the crt's own; the problem when it finds none).

    1.1, as HAProxy 2.6 loads a crt (ssl_sock_load_files_into_ckch): a key in the PEM wins; else, when
    ssl-load-extra-files lets it (all, the default, or key), <crt>.key, or with ssl-load-extra-del-ext <crt less its
    .crt>.key; else HAProxy does not start ("No Private Key found"). A crt that cannot be read is left to the probe,
    which says why."""
    try:
        data = _base.read_file(crt)
    except _base.CertError:
        return None, None
    if b"PRIVATE KEY-----" in data:
        # a key OpenSSL reads there without a passphrase (HAProxy asks for none: an encrypted one, or an OpenSSH
        # key, and it goes on to <crt>.key)
        try:
            key = _certs.parse_material(data)["key"]
        except _base.CertError:
            key = None
        if key and not key.get("encrypted") and not key.get("error") and key.get("_spki"):
            return None, None
    base = crt[:-len(".crt")] if state.extra_del_ext and crt.endswith(".crt") else crt
    if state.extra_key and os.path.isfile(base + ".key"):
        return base + ".key", None
    return None, ("crt %s holds no private key, and HAProxy %s: no private key found, HAProxy refuses this "
                  "configuration" % (crt, "looks in %s.key, which is no file" % base if state.extra_key else
                                     "looks in no other file (ssl-load-extra-files without key)"))


class _HAState:
    def __init__(self, main):
        self.main = main
        self.paths = _confread.HAProxyPaths(main)  # relative paths: ca-base/crt-base, default-path, working dir
        self.ca_base = None
        self.crt_base = None
        self.server_verify_final = None  # (value, dynamic) of the file's last global ssl-server-verify
        self.global_settings = {}  # ssl-default-server-options, -ciphers, -ciphersuites
        self.extra_key = True  # ssl-load-extra-files lets a crt's key come from <crt>.key (its default: all)
        self.extra_del_ext = False  # ssl-load-extra-del-ext: <crt without .crt>.key instead
        self.env = _confread.HAProxyEnv()
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


def names_ok(count):
    """A server-template count: N or LOW-HIGH, ASCII digits, each at most MAX_COUNT_DIGITS significant ones."""
    low, sep, high = count.partition("-")
    return _count_ok(low) and (not sep or _count_ok(high))


def _ha_global_lists(state):
    """The global cipher lists and protocol range as read so far: what a default-server line's `ssl` takes where the
    line stands (HAProxy runs ssl_sock_init_srv on the default server as it parses the line, and each server copies
    the result)."""
    lists = {key: state.global_settings[key] for key in _HA_GLOBAL_LISTS if key in state.global_settings}
    if state.global_settings.get("_no_versions"):
        lists["_no_versions"] = set(state.global_settings["_no_versions"])
    return lists


def _ha_server(state, proxy, default_lines, words, line, source):
    """The items of one `server` or `server-template` line (words without the keyword)."""
    problems = []
    settings = {}
    for ds_words, _ds_line, ds_globals in default_lines:  # each with the global lists as they were at its line
        _ha_apply(settings, ds_words, "default-server", problems, ds_globals)
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
        if high < low:  # HAProxy 2.6 (_srv_parse_tmpl_range): "0", or a range running backwards
            return [backend_item(lb_type="haproxy", config_file=state.main, line=line, pool=proxy, source=source,
                                 error=_config_error("server-template %s: %s names no server: HAProxy refuses this "
                                                     "configuration" % (prefix, count)))]
        if high - low >= MAX_TEMPLATE_SERVERS:
            return [backend_item(lb_type="haproxy", config_file=state.main, line=line, pool=proxy, source=source,
                                 error=_config_error("server-template %s: %s servers, more than %d"
                                                     % (prefix, count, MAX_TEMPLATE_SERVERS)))]
        names = ["%s%d" % (prefix, n) for n in range(low, high + 1)]
    _ha_apply(settings, params, "server", problems, state.global_settings)
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
    if source == "server-template" and host and not _base.is_ip(host):
        # server-template with a DNS name (1.4): the addresses come from resolvers at run time, one per slot; the
        # template is one item, probed at the name.
        names = ["%s[%s]" % (prefix, count if "-" in count else "1-%s" % count)]
    return [dict(item, server=name, address=host, port=port, error=error) for name in names]


def _ha_item(state, proxy, settings, line, source, problems):
    tls = bool(_ha_value(settings, "ssl")[0])
    verify_value, verify_origin, verify_dynamic = _ha_value(settings, "verify")
    if verify_value is None and state.server_verify_final:
        # 1.1: ssl-server-verify, the file's last one whatever its place (_ha_final_server_verify)
        (verify_value, verify_dynamic), verify_origin = state.server_verify_final, "global"
    elif verify_value is None:
        verify_value, verify_origin = "required", "default"  # 1.1: ssl-server-verify defaults to required
    verify = tls and verify_value == "required"
    # HAProxy 2.6 refuses any other value ("verify optional" is a bind's)
    if verify_dynamic:  # "${VAR}": HAProxy's environment decides whether it verifies; not known here
        error_dynamic = {"code": "UNSUPPORTED_SETTING", "message": "%s %s is only known to HAProxy at run time (an "
                         "environment variable): whether it verifies is not known here, not judged" % (
                             "ssl-server-verify" if verify_origin == "global" else "verify", verify_value)}
    elif verify_value not in ("none", "required"):
        problems = problems + ["verify %s (%s): HAProxy takes none or required there, and refuses this configuration"
                               % (verify_value, "ssl-server-verify" if verify_origin == "global" else "verify")]
    error = _config_error("; ".join(problems)) if problems else (error_dynamic if verify_dynamic else None)
    if error is None and settings.get("_dynamic_keyword"):
        error = {"code": "UNSUPPORTED_SETTING", "message": "the server keywords %s are only known to HAProxy at run "
                 "time (an environment variable): not judged" % settings["_dynamic_keyword"][0]}

    sni_value, _origin, sni_dynamic = _ha_value(settings, "sni")
    sni = None
    if sni_value is not None:
        literal = _SNI_LITERAL.match(sni_value)
        sni = literal.group(1) if literal and not sni_dynamic and "$" not in literal.group(1) else _dynamic(sni_value)
        sni = sni or None  # str() is an empty SNI: none is sent
    check_sni, _o, check_sni_dynamic = _ha_value(settings, "check-sni")
    verifyhost, _o, verifyhost_dynamic = _ha_value(settings, "verifyhost")
    # a name from HAProxy's environment ("${VAR}", "${VAR-default}" with VAR not set here) is not known here
    named = [value for value, flag in ((verifyhost, verifyhost_dynamic and verify), (check_sni, check_sni_dynamic))
             if flag]
    if named and tls:
        error = error or {"code": "UNSUPPORTED_SETTING", "message": "the name %s is only known to HAProxy at run "
                          "time (an environment variable): not judged" % named[0]}
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
        if client_cert and not client_cert.startswith("@"):
            client_key, key_problem = _ha_crt_key(client_cert, state)
            error = error or (_config_error(key_problem) if key_problem and tls else None)
    min_version, max_version, protocol_problem = _ha_protocols(settings, state.global_settings)
    # (an unknown version name is refused as the line is read, TLS or not; an empty range only for a TLS server)
    if isinstance(protocol_problem, tuple):  # a version from an environment variable
        error = error or ({"code": "UNSUPPORTED_SETTING", "message": protocol_problem[1]} if tls else None)
    elif protocol_problem and (tls or protocol_problem.startswith("unknown SSL/TLS version")):
        error = error or _config_error(protocol_problem)
    # 1.1: ciphers / ciphersuites, else ssl-default-server-ciphers(uites), else OpenSSL's default (None). The
    # global cipher list is the server's where `ssl` took it (_ha_apply): a list no-ssl or no-check-ssl dropped
    # after that is OpenSSL's default.
    ciphers = _ha_value(settings, "ciphers")[0]
    ciphersuites = _ha_value(settings, "ciphersuites")[0]
    check_on = bool(_ha_value(settings, "check")[0])
    # 1.3: the checks' transport (init_srv_check): check-ssl forces TLS, no-check-ssl plain TCP; with neither, the
    # checks use the traffic's transport unless a check `port` or `addr` is set (then plain TCP).
    check_ssl = _ha_value(settings, "check-ssl")[0]
    check_elsewhere = bool(_ha_value(settings, "port")[0] or _ha_value(settings, "addr")[0])
    if check_ssl is None:
        check_ssl = tls and not check_elsewhere
    # HAProxy sets the list on a server's TLS context (traffic or checks) as it starts, and refuses one that selects
    # no cipher ("unable to set SSL cipher list")
    if (tls or check_ssl) and ciphers and not _ha_value(settings, "ciphers")[2]:
        refused = cipher_list_problem(ciphers, "ciphers")
        error = error or (_config_error(refused) if refused else None)
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


_HA_SECTIONS = _confread._HAPROXY_SECTIONS


def haproxy_backends(main, source):
    """Every `server` / `server-template` of every `backend` and `listen` section of an haproxy.cfg."""
    source.reads = 0
    state = _HAState(main)
    section = proxy = None
    proxy_defaults, proxy_disabled = [], False
    items, in_section = [], []  # every server; those of the section being read
    lines = source.read(main).splitlines()
    state.server_verify_final = _ha_final_server_verify(lines)
    for lineno, tokens in _ha_lines(lines, state.env):
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
            state.current_defaults.append((tokens[1:], lineno, _ha_global_lists(state)))
        elif keyword == "default-server" and section in ("backend", "listen"):
            proxy_defaults = proxy_defaults + [(tokens[1:], lineno, _ha_global_lists(state))]
        elif keyword in ("server", "server-template") and section in ("backend", "listen"):
            in_section.extend(_ha_server(state, proxy, proxy_defaults, tokens[1:], lineno, keyword))
    _ha_stopped(in_section, proxy_disabled)
    return items + in_section


def _ha_stopped(servers, proxy_disabled):
    """A proxy that is `disabled` (its own, or from its defaults section; its last word on it counts, wherever it
    stands in the section) is stopped: HAProxy neither checks nor uses any of its servers."""
    for item in servers:
        item["disabled"] = item["disabled"] or proxy_disabled


def _ha_env(env, tokens):
    """The global section's setenv, presetenv, unsetenv and resetenv (HAProxy 2.6 cfg_parse_global), on env (an
    _confread.HAProxyEnv). A value HAProxy takes from its own environment leaves the name unknown; presetenv sets only
    a name not set (one this file set, or one known unset; any other is set here as before: HAProxy's environment
    rarely holds a name its configuration presets)."""
    words = [w for w, _d in tokens]
    keyword = words[0]
    if keyword in ("setenv", "presetenv") and len(words) > 2:
        if keyword == "presetenv" and words[1] in env:
            return
        if tokens[2][1]:
            env.forget(words[1])
        else:
            env.set(words[1], words[2])
    elif keyword == "unsetenv":
        for name in words[1:]:
            env.drop(name)
    elif keyword == "resetenv":
        env.clear_except(words[1:])


def _ha_lines(lines, env):
    """(line number, words) of each line HAProxy reads (not in an `.if` block it skips), the words as _haproxy_words
    gives them with ${.LINE} and ${.SECTION} (the current section's name, or its type when it has none; "" before the
    first section); env follows the global section's setenv / unsetenv lines as they come."""
    conditions = _confread.HAConditions(env)
    context = {".SECTION": ""}
    section = None
    for lineno, raw in enumerate(lines, start=1):
        context[".LINE"] = lineno
        tokens = _confread._haproxy_words(raw.strip(), env, context)
        if not tokens or conditions.skip(tokens):  # .if blocks HAProxy skips, and the .if lines themselves
            continue
        keyword = tokens[0][0]
        if keyword in _HA_SECTIONS:
            section = keyword
            name = tokens[1][0] if len(tokens) > 1 and tokens[1][0] != "from" else None
            context[".SECTION"] = name or keyword
        elif section == "global" and keyword in ("setenv", "presetenv", "unsetenv", "resetenv"):
            _ha_env(env, tokens)
        yield lineno, tokens


def _ha_final_server_verify(lines):
    """(value, dynamic) of the global ssl-server-verify HAProxy 2.6 applies to every server, or None: the last one in
    the file, wherever its global section stands (HAProxy reads it once the whole configuration is parsed, in
    ssl_sock_prepare_srv_ssl_ctx). A pass of its own over the lines, made only when one names it."""
    if not any("ssl-server-verify" in raw for raw in lines):
        return None
    final, section = None, None
    for _lineno, tokens in _ha_lines(lines, _confread.HAProxyEnv()):
        keyword = tokens[0][0]
        if keyword in _HA_SECTIONS:
            section = keyword
        elif section == "global" and keyword == "ssl-server-verify" and len(tokens) > 1:
            final = (tokens[1][0], bool(tokens[1][1]))
    return final


def _ha_global(state, tokens):
    words = [w for w, _d in tokens]
    keyword = words[0]
    if keyword == "ca-base" and len(words) > 1:
        state.ca_base = words[1]
    elif keyword == "crt-base" and len(words) > 1:
        state.crt_base = words[1]
    elif keyword == "default-path":
        state.paths.set_default(words)
    elif keyword == "ssl-load-extra-files" and len(words) > 1:
        state.extra_key = any(w in ("all", "key") for w in words[1:])
    elif keyword == "ssl-load-extra-del-ext":
        state.extra_del_ext = True
    elif keyword == "ssl-default-server-options":
        _ha_apply(state.global_settings, tokens[1:], "global", [])
    elif keyword == "ssl-default-server-ciphers" and len(words) > 1:
        state.global_settings["ciphers"] = (words[1], "global", tokens[1][1])
    elif keyword == "ssl-default-server-ciphersuites" and len(words) > 1:
        state.global_settings["ciphersuites"] = (words[1], "global", tokens[1][1])
