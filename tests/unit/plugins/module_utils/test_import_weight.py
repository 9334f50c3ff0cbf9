"""What a run pays for the code it carries: the module_utils a module's payload ships and a worker imports.

ansible-core parses every module_util a module imports (at any depth, lazily or not) to build its payload, and the
host compiles each one it imports from that zip (twice, zipimport on Python 3.11); the controller's collection loader
compiles the collection's source anew in each forked worker. So an import that a run does not need is a cost every
run pays (docs/performance.md). These hold the imports that were measured to matter where a later change would not
notice them: nothing else fails when a module ships or imports more than it runs.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys

from ansible_collections.certops.backend_tls.plugins.module_utils import _gather
from testlib import pki
from testlib.ansible_run import COLLECTIONS

PACKAGE = "ansible_collections/certops/backend_tls/plugins/module_utils/"
# the end of a script _python runs: `modules`, the collection's module_utils it has imported by then
MODULES = ("ours = 'ansible_collections.certops.backend_tls.plugins.module_utils.'\n"
           "modules = sorted(m[len(ours):] for m in sys.modules if m.startswith(ours))\n")


def _python(code, *args):
    """Run code in a fresh interpreter (this one has imported everything already); its stdout, parsed as JSON."""
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _payload_module_utils(module):
    """The collection's module_utils in the AnsiballZ payload ansible-core builds for `module`."""
    code = (
        "import base64, io, json, re, sys, zipfile\n"
        "from ansible.plugins.loader import init_plugin_loader, module_loader\n"
        "init_plugin_loader([sys.argv[1]])\n"
        "from ansible.executor import module_common\n"
        "from ansible.template import Templar\n"
        "found = module_loader.find_plugin_with_context(sys.argv[2])\n"
        "built = module_common.modify_module(module_name=found.resolved_fqcn, module_path=found.plugin_resolved_path,"
        " module_args={}, templar=Templar(loader=None), task_vars={'ansible_python_interpreter': sys.executable},"
        " module_compression='ZIP_DEFLATED')\n"
        "data = max(re.findall(rb\"'([A-Za-z0-9+/=]{1000,})'\", built.b_module_data), key=len)\n"
        "print(json.dumps(zipfile.ZipFile(io.BytesIO(base64.b64decode(data))).namelist()))\n")
    names = _python(code, str(COLLECTIONS), "certops.backend_tls.%s" % module)
    return sorted(n[len(PACKAGE):-3] for n in names if n.startswith(PACKAGE) and n != PACKAGE + "__init__.py")


def test_lb_backend_info_ships_no_site_discovery():
    """lb_backend_info reads configuration with _confread and builds its result with _collector: its payload carries
    neither the discovery of sites (_discover) nor backend_cert_info's collection (_collect, _gather), about 2,000
    lines a run parsed on the controller and compiled twice on the host (0.14 s to 0.09 s of compiling, 2026-12-06)."""
    shipped = _payload_module_utils("lb_backend_info")
    assert {"_lbview", "_lbview_haproxy", "_confread", "_collector", "_probe", "_certs"} <= set(shipped), shipped
    assert not {"_discover", "_collect", "_gather"} & set(shipped), shipped


def test_describing_declared_sites_imports_no_parsers(tmp_path):
    """The role's collect describes each host's declared sites in that host's forked worker, which compiles every
    collection module it imports from source: describing them must not import the configuration parsers (about
    20-40 ms a host, a fleet of 60 about 0.1 of the ping play, before 2026-12-06's fix)."""
    ca = pki.CA("Import Weight")
    leaf = ca.leaf("a.test")
    cert = pki.write(tmp_path / "a.crt", ca.chain_pem(leaf))
    key = pki.write(tmp_path / "a.key", leaf.key_pem(), mode=0o600)
    wire = _gather.gather(sites=[{"name": "a", "server_type": "nginx", "cert_path": cert, "key_path": key}])
    (tmp_path / "wire.json").write_text(json.dumps(wire))
    code = ("import json, sys\n"
            "from ansible_collections.certops.backend_tls.plugins.module_utils import _collect\n"
            "result = _collect.describe(json.load(open(sys.argv[1])))\n"
            + MODULES +
            "print(json.dumps({'sites': [s['name'] for s in result['sites']],\n"
            "                  'modules': modules}))\n")
    out = _python(code, str(tmp_path / "wire.json"))
    assert out["sites"] == ["a"], out
    assert "_certs" in out["modules"], out  # it did describe
    assert not {"_discover", "_confread"} & set(out["modules"]), out["modules"]


def test_reading_files_on_a_host_imports_no_prober(tmp_path):
    """A host that only reads files (backend_cert_material with paths) does not import _probe: ssl, threads and about
    800 lines that zipimport compiles twice (about 25-30 ms a run, 2026-12-07, when it had 850). One that probes
    does."""
    ca = pki.CA("Import Weight Files")
    pki.write(tmp_path / "a.crt", ca.chain_pem(ca.leaf("a.test")))
    code = ("import json, sys\n"
            "from ansible_collections.certops.backend_tls.plugins.module_utils import _gather\n"
            "wire = _gather.gather(paths=[sys.argv[1]], endpoints=json.loads(sys.argv[2]), timeout=2)\n"
            + MODULES +
            "print(json.dumps({'files': sorted(wire['files']), 'probes': len(wire['probes']),\n"
            "                  'modules': modules}))\n")
    files_only = _python(code, str(tmp_path), "[]")
    assert files_only["files"] == [str(tmp_path / "a.crt")] and files_only["probes"] == 0, files_only
    assert "_material" in files_only["modules"], files_only["modules"]  # it did read the file
    assert "_probe" not in files_only["modules"], files_only["modules"]
    probing = _python(code, str(tmp_path), json.dumps(["127.0.0.1:1"]))
    assert probing["probes"] == 1 and "_probe" in probing["modules"], probing
    # imported inside a function, it must still ship: ansible-core's payload builder finds nested imports too
    assert "_probe" in _payload_module_utils("backend_cert_material")


def test_probing_a_backend_as_itself_imports_no_load_balancer_probing():
    """A host probing its own site (the role's collect: one handshake, no client certificate) does not import
    _probe_lb (openssl s_client and client certificates, about 480 lines that zipimport compiles twice) nor
    concurrent.futures (a fleet host's collect module went from 56 to 43 ms of CPU beyond ping's, 2026-12-07), not
    even when the server asks for a client certificate. Nor does a load balancer's probe that fails within its
    settings and is named by a second handshake. One that needs openssl s_client does, and both payloads ship it."""
    from testlib import faultpeers

    ca = pki.CA("Import Weight Probe")
    leaf = ca.leaf("a.test")
    # the role's collect probes through _gather; lb_backend_info gives _probe the load balancer's settings
    code = ("import json, sys\n"
            "from ansible_collections.certops.backend_tls.plugins.module_utils import _gather, _probe\n"
            "targets = json.loads(sys.argv[1])\n"
            "probes = (_gather.gather(endpoints=targets, timeout=5)['probes'] if sys.argv[2] == 'gather' else\n"
            "          _probe.probe_many(targets, timeout=5, concurrency=1))\n"
            + MODULES +
            "print(json.dumps({'probes': [(p['ok'], (p['error'] or {}).get('code'), len(p.get('chain', p.get(\n"
            "                              'chain_der')))) for p in probes],\n"
            "                  'futures': 'concurrent.futures' in sys.modules,\n"
            "                  'modules': modules}))\n")
    with faultpeers.TLSServer(ca.chain_pem(leaf), leaf.key_pem()) as server:
        target = {"host": "127.0.0.1", "port": server.port, "server_name": "a.test"}
        plain = _python(code, json.dumps([target]), "gather")
        assert plain["probes"] == [[True, None, 2]], plain  # the handshake was made, the chain read
        assert "_probe" in plain["modules"] and "_probe_lb" not in plain["modules"], plain["modules"]
        assert plain["futures"] is False, plain
        server.context.verify_mode = ssl.CERT_OPTIONAL  # it sends a CertificateRequest, and takes no certificate
        asked = _python(code, json.dumps([target]), "gather")
        assert asked["probes"] == [[True, None, 2]] and "_probe_lb" not in asked["modules"], asked
        server.context.verify_mode = ssl.CERT_NONE
        # TLS 1.2 with suites the server's EC key cannot sign: a second handshake, without them, names the failure
        settings = {"min_version": None, "max_version": "TLSv1.2", "ciphers": "aRSA"}
        pinned = _python(code, json.dumps([dict(target, lb_settings=settings)]), "lb")
        assert pinned["probes"] == [[False, "NO_COMMON_PROTOCOL", 2]], pinned  # (it speaks TLS 1.3 without them)
        assert "_probe_lb" not in pinned["modules"], pinned["modules"]
        # TLS 1.3 suites the server does not take: asked again with openssl s_client, offering only those
        settings = {"min_version": "TLSv1.3", "max_version": "TLSv1.3", "ciphers": None,
                    "ciphersuites": "TLS_AES_128_CCM_8_SHA256"}
        restricted = _python(code, json.dumps([dict(target, lb_settings=settings)]), "lb")
    assert restricted["probes"] == [[False, "NO_COMMON_CIPHER", 2]], restricted
    assert "_probe_lb" in restricted["modules"], restricted["modules"]
    assert "_probe_lb" in _payload_module_utils("backend_cert_material")
    assert "_probe_lb" in _payload_module_utils("lb_backend_info")
