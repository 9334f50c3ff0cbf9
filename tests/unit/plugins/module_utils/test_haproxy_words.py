"""HAProxy 2.6's environment variable forms in double quotes (configuration.txt 2.3; parse_line), the global section's
unsetenv / resetenv (3.1), a later global section, and the no-* keywords HAProxy 2.6 has, as lb_backend_info reads
them. Each expectation was checked against `haproxy -c` 2.6.12 (an unknown keyword names the word HAProxy got).
A variable HAProxy takes from its own environment stays unknown here: the word is dynamic, never guessed."""

from __future__ import annotations

from ansible_collections.certops.backend_tls.plugins.module_utils import _confread, _lbview
from ansible_collections.certops.backend_tls.plugins.module_utils._confread import (
    HAConditions,
    _haproxy_words,
    ha_condition,
)


def _env(**values):
    env = _confread.HAProxyEnv()
    for name, value in values.items():
        env.set(name, value)
    return env


def test_word_expansion_splits_a_known_value_into_words():
    env = _env(X="ssl verify  required")
    assert _haproxy_words('s "${X[*]}" check', env) == [
        ("s", False), ("ssl", False), ("verify", False), ("required", False), ("check", False)]
    # haproxy -c: "a${X[*]}b" with X "ssl bogus-kw" -> unknown keyword 'assl' ... 'bogus-kwb'
    assert _haproxy_words('"a${X[*]}b"', env) == [("assl", False), ("verify", False), ("requiredb", False)]
    assert _haproxy_words('"${X}"', env) == [("ssl verify  required", False)]


def test_word_expansion_of_an_unknown_variable_is_dynamic():
    assert _haproxy_words('"${Y[*]}" check', _env()) == [("${Y[*]}", True), ("check", False)]


def test_default_value_only_for_a_variable_that_does_not_exist():
    env = _env(E="", K="backend.test")
    assert _haproxy_words('"${K-other}" "${E-other}"', env) == [("backend.test", False), ("", False)]
    # not set in the file: HAProxy's own environment may hold it
    assert _haproxy_words('"${Y-d f}x"', env) == [("${Y-d f}x", True)]
    env.drop("Y")
    assert _haproxy_words('"${Y-d f}x" "A${Y}B" "${Y[*]-a b}"', env) == [
        ("d fx", False), ("AB", False), ("a", False), ("b", False)]


def test_pseudo_variables():
    context = {".LINE": 4, ".SECTION": "bb"}
    assert _haproxy_words('"${.SECTION}-${.LINE}" "$.LINE"', _env(), context) == [("bb-4", False), ("4", False)]
    assert _haproxy_words('"${.FILE}"', _env(), context) == [("${.FILE}", True)]  # how HAProxy was started
    assert _haproxy_words('"${.LINE}"', {}) == [("${.LINE}", True)]  # no context given
    assert _haproxy_words("'${.LINE}'", _env(), context) == [("${.LINE}", False)]  # single quotes: as written


def test_unsetenv_and_resetenv():
    env = _env(X="1", Y="2")
    env.drop("X")
    assert ha_condition([("defined(X)", False)], env) is False
    assert ha_condition([("defined(Y)", False)], env) is True
    assert ha_condition([("defined(PATH)", False)], env) is None
    env.clear_except(["Y", "Q"])
    assert dict(env) == {"Y": "2"}
    assert ha_condition([("defined(PATH)", False)], env) is False
    assert ha_condition([("defined(Q)", False)], env) is None  # listed: keeps what it had (unknown)
    env.set("X", "3")
    assert ha_condition([("defined(X)", False)], env) is True
    assert ha_condition([("defined(X)", False)], {"X": "1"}) is True  # a plain dict still reads as before
    assert ha_condition([("defined(Z)", False)], {}) is None
    conditions = HAConditions(env)
    assert conditions.skip([(".if", False), ("defined(PATH)", False)]) and conditions.skip([("bogus", False)])


def _items(text):
    source = _confread.FileSource({"/h/haproxy.cfg": text})
    return {i["server"]: i for i in _lbview.lb_backends("haproxy", "/h/haproxy.cfg", source)}


def test_server_keywords_from_a_split_variable_and_from_unset_ones():
    items = _items('global\n    setenv SRV_TLS "ssl verify required ca-file /h/R.pem"\n    setenv S 1\n'
                   '    unsetenv S\nbackend be\n'
                   '    server w1 127.0.0.1:1 "${SRV_TLS[*]}" check\n'
                   '    server w2 127.0.0.1:2 "${NOT_HERE[*]}" check\n'
                   '.if defined(S)\n    server w3 127.0.0.1:3 ssl verify none\n.else\n'
                   '    server w3 127.0.0.1:3 ssl verify required ca-file /h/R.pem sni "str(${S-backend.test})"\n'
                   '.endif\n')
    assert (items["w1"]["tls"], items["w1"]["verify"], items["w1"]["ca_file"], items["w1"]["error"]) == (
        True, True, "/h/R.pem", None)
    assert items["w2"]["error"]["code"] == "UNSUPPORTED_SETTING"
    assert (items["w3"]["verify"], items["w3"]["sni"], items["w3"]["error"]) == (True, "backend.test", None)


def test_a_later_global_section():
    items = _items("backend be1\n    server b1 127.0.0.1:1 ssl ca-file /h/R.pem\n"
                   "defaults withssl\n    default-server ssl verify none\n"
                   "global\n    ssl-default-server-options ssl-min-ver TLSv1.3\n"
                   "backend be2 from withssl\n    server b2 127.0.0.1:2\n    server b3 127.0.0.1:3 ssl\n"
                   "    server b4 127.0.0.1:4 ssl-max-ver TLSv1.2 ssl\n"
                   "global\n    ssl-server-verify none\n")
    assert (items["b1"]["verify"], items["b1"]["verify_origin"], items["b1"]["error"]) == (False, "global", None)
    assert (items["b2"]["min_version"], items["b3"]["min_version"]) == (None, "TLSv1.3")
    assert items["b4"]["error"]["code"] == "INVALID_CONFIG"  # haproxy -c: all SSL/TLS versions are disabled


def test_no_keywords_haproxy_does_not_have():
    items = _items("backend be\n"
                   "    default-server no-verify\n    server d 127.0.0.1:9 ssl verify none\n"
                   "backend be2\n" + "".join(
                       "    server %s 127.0.0.1:%d ssl verify none %s\n" % (kw.replace("-", "_"), n, kw)
                       for n, kw in enumerate(("no-sni", "no-verifyhost", "no-crt", "no-allow-0rtt", "force-tlsv14",
                                               "no-tls-tickets", "no-ssl-reuse", "no-tfo", "no-send-proxy-v2-ssl-cn",
                                               "no-agent-check", "no-check-send-proxy", "no-backup"), 1)))
    for name in ("d", "no_sni", "no_verifyhost", "no_crt", "no_allow_0rtt", "force_tlsv14"):
        assert items[name]["error"]["code"] == "INVALID_CONFIG", name
    for name in ("no_tls_tickets", "no_ssl_reuse", "no_tfo", "no_send_proxy_v2_ssl_cn", "no_agent_check",
                 "no_check_send_proxy", "no_backup"):
        assert items[name]["error"] is None, name
