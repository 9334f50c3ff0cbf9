"""Apache's revocation check in a server's own proxy context (from the CRL hunt of 2026-12-07).

mod_ssl builds the proxy context of the main server, and of each VirtualHost, that has SSLProxyEngine on, and
refuses to start (AH01899) when a revocation check is set there without a CRL file or directory there; a <Proxy>
section's CRL file does not count for it. The collection judged each backend by its merged settings alone, where the
section's file satisfied the check, and reported a configuration Apache does not start with as fine. Each case here is
started with a real Apache, and lb_backend_info must say INVALID_CONFIG exactly where Apache refuses.
"""

from __future__ import annotations

import pytest

from testlib import lbjudge, pki
from testlib.servers import ApacheLB, free_ports

ROOT = pki.issue("Apache CRL Context Root CA", ca=True, days=3650)
VHOST = ("<VirtualHost 127.0.0.1:%(port)d>\n%(vhost)s    ProxyPass /a/ https://127.0.0.1:9/\n"
         "    <Proxy https://127.0.0.1:9/>\n%(section)s    </Proxy>\n</VirtualHost>\n")
CHECK, FILE = "    SSLProxyCARevocationCheck chain\n", "    SSLProxyCARevocationFile %(dir)s/crl.pem\n"
ENGINE = "    SSLProxyEngine on\n    SSLProxyVerify require\n    SSLProxyCACertificateFile %(dir)s/ca.pem\n"
CASES = {  # name: (main server lines, VirtualHost lines, <Proxy> lines, Apache starts)
    "vhost_check_section_file": ("", ENGINE + CHECK, FILE, False),
    "main_check_section_file": (ENGINE + CHECK, "", FILE, False),
    "vhost_check_vhost_file": ("", ENGINE + CHECK + FILE, "", True),
    "vhost_check_main_file": (FILE, ENGINE + CHECK, "", True),
    "engine_in_section_only": ("", CHECK, ENGINE + FILE, True),
    "check_and_file_in_section": ("", ENGINE, CHECK + FILE, True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_revocation_check_needs_its_crl_where_it_is_set(tmp_path_factory, case):
    base = lbjudge.workdir(tmp_path_factory, "apache-crl-context")
    pki.write(base / "ca.pem", ROOT.pem)
    pki.write(base / "crl.pem", pki.crl_pem(pki.crl(ROOT)))
    main, vhost, section, starts = CASES[case]
    (port,) = free_ports(1)
    body = main % {"dir": base} + VHOST % {"port": port, "vhost": vhost % {"dir": base},
                                           "section": section % {"dir": base}}
    apache = ApacheLB(base / "apache", [port], body)
    try:
        apache.start()
        started = True
    except RuntimeError:
        started = False
    finally:
        apache.stop()
    log = (apache.dir / "error.log").read_text() if (apache.dir / "error.log").exists() else ""
    assert started == starts and ("AH01899" in log) == (not starts), (case, log[-2000:])
    (item,) = lbjudge.read({"apache": apache})["lb_backends"]
    if starts:
        assert item["error"] is None, (case, item["error"])
    else:
        assert item["error"]["code"] == "INVALID_CONFIG" and "AH01899" in item["error"]["message"], (case, item)
