"""Apache as a TLS-verifying reverse proxy, read as Apache reads its configuration: the classes a differential fuzz
against Apache 2.4.71 found (400 generated configurations, 2,310 routes; 2026-12-06), each held here to the REAL
Apache's answer to a proxied request and to the collection's verdict on the same backend.

- A `<Proxy>` section applies to the URLs it names case-sensitively (a balancer's members are still found ignoring
  case): `<Proxy "https://LOCALHOST:p/">` does not verify `https://localhost:p/`; one with a wildcard is matched as
  apr_fnmatch matches (`[^y]` is "not y", a backslash escapes).
- Words as ap_getword_conf reads them: single quotes too, and an unterminated quote runs to the end of the line.
- Lines as ap_cfg_getline joins them: a trailing backslash joins the next line as written (nothing added), and a
  comment that ends in a backslash and a space does not go on.
- SSLProxyProtocol leaves no holes: `-all +TLSv1.1 +TLSv1.3` offers TLS 1.3 only.
- SSLProxyVerifyDepth is read with atoi: `abc` is 0.
- A ProxyPass worker's `status=D` and a BalancerMember's `status=N` take no requests (503): not judged.
- An empty hashed SSLProxyCACertificatePath beside a CA file that holds the root is no error.
- SSLProxyVerify optional_no_ca is not judged (UNSUPPORTED_SETTING), and settings Apache refuses are
  INVALID_CONFIG.
"""

from __future__ import annotations

import subprocess

import pytest

from testlib import lbjudge, pki
from testlib.servers import ApacheLB, ProtocolBackends, free_ports, http_status

R = pki.CA("Apache Reading R")
O = pki.CA("Apache Reading O")  # noqa: E741 - the other CA, as the fuzz named it
GOOD = R.leaf("localhost", names=["localhost"])
OTHER = O.leaf("localhost", names=["localhost"])
BS = "\\"

# case -> (backend: the R chain or O's, its protocols; the <Proxy> body or the line that proxies, what Apache
# answers, what the collection says: "valid", an error code of the verdict, or the entry's own error / state)
CASES = {
    "case_host": ("good", "TLSv1.2 TLSv1.3", "upper", 200, "valid"),
    "case_balancer": ("good", "TLSv1.2 TLSv1.3", "balancer", 200, "valid"),
    # a <Proxy> URL with a wildcard is matched as apr_fnmatch matches: [^y] is "not y", \\x is x
    "wild_caret": ("good", "TLSv1.2 TLSv1.3", "wild:[^y]*", 500, "UNTRUSTED_ROOT"),
    "wild_escape": ("good", "TLSv1.2 TLSv1.3", "wild:" + BS + "x*", 500, "UNTRUSTED_ROOT"),
    "wild_none": ("good", "TLSv1.2 TLSv1.3", "wild:[^x]*", 200, "valid"),
    "single_quotes": ("other", "TLSv1.2 TLSv1.3", "SSLProxyVerify 'require'\n    SSLProxyCACertificateFile {R}"
                      "\n    SSLProxyVerifyDepth 5", 500, "UNTRUSTED_ROOT"),
    "unterminated": ("other", "TLSv1.2 TLSv1.3", "SSLProxyVerifyDepth 5\n    SSLProxyCACertificateFile {R}\n"
                     "    SSLProxyVerify \"require", 500, "UNTRUSTED_ROOT"),
    "joined": ("other", "TLSv1.2 TLSv1.3", "SSLProxyVer" + BS + "\nify require\n    SSLProxyCACertificateFile {R}\n"
               "    SSLProxyVerifyDepth 5",
               500, "UNTRUSTED_ROOT"),
    "comment": ("other", "TLSv1.2 TLSv1.3", "# a note " + BS + " \n    SSLProxyVerify require\n"
                "    SSLProxyCACertificateFile {R}\n    SSLProxyVerifyDepth 5", 500, "UNTRUSTED_ROOT"),
    "holes": ("good", "TLSv1.2", "SSLProxyProtocol -all +TLSv1.1 +TLSv1.3", 500, "NO_COMMON_PROTOCOL"),
    "no_sslv2": ("good", "TLSv1.2", "SSLProxyProtocol all -SSLv2 -SSLv3", 200, "valid"),  # SSLv2 may be taken away
    # shared through a prefix: /shared_sub/ goes through shared_root's worker, made first, with its status=D
    "shared_root": ("other", "TLSv1.2 TLSv1.3", "status=D", 503, "disabled"),
    "shared_sub": ("other", "TLSv1.2 TLSv1.3", "below shared_root", 503, "disabled"),
    # the other way round: the later, longer URL's status=D is ignored
    "plain_root": ("good", "TLSv1.2 TLSv1.3", "plain", 200, "valid"),
    "plain_sub": ("good", "TLSv1.2 TLSv1.3", "below plain_root, status=D", 200, "valid"),
    "depth_atoi": ("good", "TLSv1.2 TLSv1.3", "SSLProxyVerify require\n    SSLProxyVerifyDepth abc\n"
                   "    SSLProxyCACertificateFile {R}", 500, "CHAIN_TOO_LONG"),
    "depth_atoi_ok": ("good", "TLSv1.2 TLSv1.3", "SSLProxyVerify require\n    SSLProxyVerifyDepth 2x\n"
                      "    SSLProxyCACertificateFile {R}", 200, "valid"),
    "empty_capath": ("good", "TLSv1.2 TLSv1.3", "SSLProxyVerify require\n    SSLProxyVerifyDepth 2\n"
                     "    SSLProxyCACertificateFile {R}\n    SSLProxyCACertificatePath {EMPTY}", 200, "valid"),
    "status_d": ("other", "TLSv1.2 TLSv1.3", "status=D", 503, "disabled"),
    "status_n": ("good", "TLSv1.2 TLSv1.3", "status=N", 200, "valid"),  # draining: only a balancer's member
    # one worker per URL, made by the first line that names it: its parameters hold for the second line too
    "shared_d": ("other", "TLSv1.2 TLSv1.3", "status=D", 503, "disabled"),
    "shared_d2": ("other", "TLSv1.2 TLSv1.3", "same as shared_d", 503, "disabled"),
    "shared_p": ("good", "TLSv1.2 TLSv1.3", "plain", 200, "valid"),
    "shared_p2": ("good", "TLSv1.2 TLSv1.3", "same as shared_p, status=D", 200, "valid"),
    "drain": ("other", "TLSv1.2 TLSv1.3", "drain", 503, "disabled"),
    "no_ca_ok": ("good", "TLSv1.2 TLSv1.3", "SSLProxyVerify optional_no_ca\n    SSLProxyCACertificateFile {R}",
                 500, "UNSUPPORTED_SETTING"),
}


def _body(ports, files, lb_port):
    lines = ["SSLProxyEngine on", "SSLProxyVerify none"]
    for case, (_kind, _protocols, how, _status, _verdict) in CASES.items():
        url = "https://localhost:%d/" % ports[case]
        if how == "upper":
            lines += ["ProxyPass /%s/ %s" % (case, url), '<Proxy "https://LOCALHOST:%d/">' % ports[case],
                      "    SSLProxyVerify require", "    SSLProxyCACertificateFile %s" % files["O"], "</Proxy>"]
        elif how == "balancer":
            lines += ["ProxyPass /%s/ balancer://pool_%s/" % (case, case), '<Proxy "balancer://Pool_%s">' % case,
                      "    BalancerMember %s" % url, "    SSLProxyVerify require",
                      "    SSLProxyCACertificateFile %s" % files["O"], "</Proxy>"]
        elif how.startswith("wild:"):
            lines += ["ProxyPass /%s/ %sx/" % (case, url), "<Proxy %s%s>" % (url, how[len("wild:"):]),
                      "    SSLProxyVerify require", "    SSLProxyVerifyDepth 5",
                      "    SSLProxyCACertificateFile %s" % files["O"], "</Proxy>"]
        elif how in ("status=D", "status=N", "plain"):
            lines += ["ProxyPass /%s/ %s %s" % (case, url, "" if how == "plain" else how)]
        elif how.startswith("below "):
            first, _sep, params = how[len("below "):].partition(", ")
            lines += ["ProxyPass /%s/ https://localhost:%d/sub/ %s" % (case, ports[first], params)]
        elif how.startswith("same as "):
            first, _sep, params = how[len("same as "):].partition(", ")
            lines += ["ProxyPass /%s/ https://localhost:%d/ %s" % (case, ports[first], params)]
        elif how == "drain":
            lines += ["ProxyPass /%s/ balancer://pool_%s/" % (case, case), "<Proxy balancer://pool_%s>" % case,
                      "    BalancerMember %s status=N" % url, "</Proxy>"]
        elif case == "joined":
            lines += ["ProxyPass /%s/ https://local%s\nhost:%d/" % (case, BS, ports[case]),
                      "<Proxy %s>" % url, "    " + how.format(**files), "</Proxy>"]
        else:
            lines += ["ProxyPass /%s/ %s" % (case, url), "<Proxy %s>" % url, "    " + how.format(**files),
                      "</Proxy>"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    workdir = lbjudge.workdir(tmp_path_factory, "apache-reading")
    files = {"R": pki.write(workdir / "r-root.pem", R.root.pem), "O": pki.write(workdir / "o-root.pem", O.root.pem)}
    (workdir / "empty").mkdir()
    (workdir / "empty" / "not-hashed.pem").write_text(R.root.pem)
    files["EMPTY"] = str(workdir / "empty")
    chains = {}
    for kind, ca, leaf in (("good", R, GOOD), ("other", O, OTHER)):
        chains[kind] = (pki.write(workdir / ("%s.crt" % kind), ca.chain_pem(leaf)),
                        pki.write(workdir / ("%s.key" % kind), leaf.key_pem(), 0o600))
    numbers = free_ports(len(CASES) + 1)
    ports = dict(zip(CASES, numbers))
    backends = ProtocolBackends(workdir / "backends", [
        {"name": case, "port": ports[case], "cert": chains[kind][0], "key": chains[kind][1], "protocols": protocols,
         "fqdn": "localhost"} for case, (kind, protocols, _how, _status, _verdict) in CASES.items()])
    lb = ApacheLB(workdir / "apache", [numbers[-1]], _body(ports, files, numbers[-1]))
    with backends, lb:
        said = {case: http_status("http://127.0.0.1:%d/%s/" % (numbers[-1], case)) for case in CASES}
        result = lbjudge.read({"apache": lb})
        yield {"said": said, "result": result, "ports": ports, "workdir": workdir}


def test_apache_answers_as_measured(world):
    assert world["said"] == {case: spec[3] for case, spec in CASES.items()}


def test_the_collection_agrees_with_apache(world):
    result = world["result"]
    verdicts = lbjudge.judged(result)
    seen = {}
    for index, item in enumerate(result["lb_backends"]):
        case = item["location"].rsplit(" ", 1)[-1].strip("/")  # "main server /<case>/"
        if item["disabled"]:
            seen[case] = "disabled"
        elif item["error"]:
            seen[case] = item["error"]["code"]
        elif not item["endpoint"]["ok"]:
            seen[case] = item["endpoint"]["error"]["code"]
        else:
            verdict = verdicts[index]
            codes = lbjudge.error_codes(verdict)
            # (the one expected among the verdict's errors: an unknown CA's chain is also too long for depth 1)
            seen[case] = "valid" if verdict["valid"] else CASES[case][4] if CASES[case][4] in codes else codes
    assert seen == {case: spec[4] for case, spec in CASES.items()}
    # and what is judged agrees with Apache's answer: 200 exactly where the collection says valid
    for case, (_kind, _protocols, _how, status, verdict) in CASES.items():
        if verdict not in ("disabled", "UNSUPPORTED_SETTING"):
            assert (status == 200) == (verdict == "valid"), case


@pytest.mark.parametrize("line", [
    "SSLProxyVerify always", "SSLProxyCheckPeerName yes", "SSLProxyVerifyDepth 2 3", "SSLProxyCipherSuite ssl HIGH",
    "SSLProxyVerifyDepth -1", "SSLProxyProtocol all -SSLv3 +bogus", "SSLProxyVerify bogus\nSSLProxyVerify none",
    "SSLProxyVerify", "SSLProxyProtocol all +SSLv3"])
def test_settings_apache_refuses_are_invalid_config(world, line):
    workdir = world["workdir"]
    lb = ApacheLB(workdir / ("refused-%d" % len(list(workdir.glob("refused-*")))), [free_ports(1)[0]],
                  "SSLProxyEngine on\n%s\nProxyPass /a/ https://localhost:%d/\n" % (line, world["ports"]["case_host"]))
    lb.write()
    checked = subprocess.run(["apache2", "-t", "-f", str(lb.conf)], capture_output=True, text=True, check=False)
    assert checked.returncode != 0, checked.stderr
    result = lbjudge.read({"apache": lb})
    (item,) = result["lb_backends"]
    assert item["error"]["code"] == "INVALID_CONFIG" and "Apache refuses" in item["error"]["message"], item


# The words of one `Define NAME value` line, as written -> what the collection reads; each is also held to Apache's
# own reading (`apache2 -t -D DUMP_RUN_CFG` prints every Define with its value).
WORDS = {
    "Define A x" + BS + "\ny": "xy",  # joined as written
    "Define A 'sq'": "sq",
    "# c " + BS + "\nDefine A swallowed": None,  # the comment takes the next line
    "# c " + BS + " \nDefine A kept": "kept",  # not after a space
    "Define A \"un term": "un term",
    "Define A " + BS * 2 + "z": BS + "z",
    "Define A \"a" + BS + "\"b\"": 'a"b',
    "Define A v\r": "v",
    "Define A 'it" + BS + "'s'": "it's",
    "Define A a" + BS + "b": "a" + BS + "b",
    "Define A \"a" + BS * 2 + "b\"": "a" + BS + "b",
    "  Define\tA\x0bv": "v",
    "Define A \xa0v": "\xa0v",  # a no-break space is no separator
    "Define A a" + BS * 2 + "\nb": "a" + BS + "b",
    "Define A a" + BS + "\r\nb": "ab",
    "Define A end" + BS: "end" + BS,  # the last line, with no newline after it
}


@pytest.mark.parametrize("text", list(WORDS), ids=range(len(WORDS)))
def test_lines_and_words_are_apaches(tmp_path, text):
    from ansible_collections.certops.backend_tls.plugins.module_utils import _confread

    lines = list(_confread.apache_lines(text))
    read = _confread.apache_words(lines[0][1])[2] if lines else None
    assert read == WORDS[text]
    conf = tmp_path / "apache2.conf"
    conf.write_bytes(("ServerRoot %s\nServerName localhost\nPidFile %s/pid\nErrorLog %s/error.log\n"
                      "LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so\n"
                      % (tmp_path, tmp_path, tmp_path) + text).encode("latin-1"))
    proc = subprocess.run(["apache2", "-t", "-D", "DUMP_RUN_CFG", "-f", str(conf)], capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    said = [line[len("Define: A="):] for line in (proc.stdout + proc.stderr).decode("latin-1").splitlines()
            if line.startswith("Define: A")]
    assert said == ([] if WORDS[text] is None else [WORDS[text]])


def test_proxy_patterns_are_aprs():
    """<Proxy> wildcards as Apache matches them: held to the real libapr's apr_fnmatch and apr_fnmatch_test (the
    library Apache calls, loaded with ctypes), over patterns of brackets, ranges, negations and escapes."""
    import ctypes
    import ctypes.util
    import random

    from ansible_collections.certops.backend_tls.plugins.module_utils import _lbview_apache

    path = ctypes.util.find_library("apr-1")
    assert path, "libapr-1 (Apache's runtime, installed with apache2) is a test dependency"
    apr = ctypes.CDLL(path)
    apr.apr_fnmatch.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
    apr.apr_fnmatch_test.argtypes = [ctypes.c_char_p]
    rng = random.Random(20261206)
    differ = []
    for _case in range(30000):
        pattern = "".join(rng.choice("ab-/*?[]!^" + BS + "xyz") for _char in range(rng.randint(0, 9)))
        text = "".join(rng.choice("ab-/xyz[]!^" + BS) for _char in range(rng.randint(0, 7)))
        if (apr.apr_fnmatch(pattern.encode(), text.encode(), 0) == 0) != _lbview_apache._apr_match(
                _lbview_apache._apr_tokens(pattern), text):
            differ.append(("match", pattern, text))
        if (apr.apr_fnmatch_test(pattern.encode()) != 0) != _lbview_apache._apr_fnmatch_test(pattern):
            differ.append(("test", pattern))
    assert differ == []
