"""The lab's load balancer and the collection agree on every backend, before and after remediation (issue 8).

HAProxy's verdict is its health check (`ssl verify required ca-file ... verifyhost ...`); the collection's is
backend_cert_info's probe of what the backend serves, judged by cert_chain_verify with profile openssl, the
load balancer's ca-file and the name it verifies -- both read from the HAProxy configuration the lab generated.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import pytest

from ansible_collections.certops.backend_tls.plugins.modules import backend_cert_info, cert_chain_verify
from lab import lab as labctl
from testlib.ansible_run import ROOT, run_playbook
from testlib.module_runner import run_main

REMEDIATE = ROOT / "playbooks" / "remediate.yml"
OPENSSL_ONLY = "accepted by OpenSSL; a WebPKI client would reject"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    directory = tmp_path_factory.mktemp("lab")
    state = labctl.up(directory, backends=labctl.WITH_PLAIN_CA)
    yield state
    labctl.down(directory)


def lb_servers(state):
    """{server: {address, ca_file, sni, name}} from the `server` lines of the load balancer's haproxy.cfg."""
    servers = {}
    for line in Path(state["lb"]["conf"]).read_text().splitlines():
        words = shlex.split(line)
        if words[:1] != ["server"]:
            continue
        opts = dict(zip(words[3:], words[4:]))
        assert {"verify", "ca-file", "check-ssl"} <= set(words) and opts["verify"] == "required", line
        sni = opts.get("check-sni") or opts["sni"].removeprefix("str(").removesuffix(")")  # what the check sends
        # HAProxy verifies the name it sent as SNI; verifyhost only when it sent none (docs/design/lb-view.md 1.2).
        servers[words[1]] = {"address": words[2], "ca_file": opts["ca-file"], "sni": sni,
                             "name": sni or opts.get("verifyhost")}
    return servers


def verdicts(servers, profile):
    """{server: cert_chain_verify result} for what each backend serves now, judged with the load balancer's settings."""
    endpoints = [{"host": s["address"].rsplit(":", 1)[0], "port": int(s["address"].rsplit(":", 1)[1]),
                  "server_name": s["sni"]} for s in servers.values()]
    probed = run_main(backend_cert_info.main, {"endpoints": endpoints, "timeout": 5, "chain_pem": True})["endpoints"]
    by_address = {"%s:%d" % (ep["host"], ep["port"]): ep for ep in probed}
    out = {}
    for ca_file in {s["ca_file"] for s in servers.values()}:
        items = []
        for name, server in servers.items():
            if server["ca_file"] == ca_file:
                served = by_address[server["address"]]
                assert served["ok"], served  # a handshake without verification always completes here
                items.append({"name": name, "chain": served["chain_pem"], "server_names": [server["name"]]})
        result = run_main(cert_chain_verify.main, {"items": items, "ca_path": ca_file, "profile": profile})
        assert result["profile"] == profile, result
        out.update((r["name"], r) for r in result["results"])
    return out


def agree(state, profile="openssl", timeout=10.0):
    """Poll HAProxy's view until every server has a real check result that matches the collection's verdict
    (UP <=> valid), at most timeout seconds; assert they agree. Returns (verdicts, HAProxy's statuses)."""
    judged = verdicts(lb_servers(state), profile)
    want = {name: "UP" if r["valid"] else "DOWN" for name, r in judged.items()}
    deadline = time.monotonic() + timeout
    while True:
        view = {v["backend"]: v for v in labctl.lb_view(state["dir"])}
        seen = {name: view[name]["status"] for name in want}
        checked = all(not view[name]["check"].startswith("INI") for name in want)
        if (checked and seen == want) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert seen == want, "\n".join(
        "%s: HAProxy %s (%s), collection (%s) %s %s" % (name, seen[name], view[name]["check"], profile, want[name],
                                                        [f["code"] for f in judged[name]["findings"]])
        for name in want if seen[name] != want[name])
    return judged, seen


def test_load_balancer_and_collection_agree_before_and_after_remediation(lab):
    judged, seen = agree(lab)
    assert seen == {"shop": "DOWN", "api": "DOWN", "edge": "DOWN", "blog": "DOWN", "plain": "UP"}

    # The plain private CA: OpenSSL (and so HAProxy) accepts it, the strict rules would not.
    plain = judged["plain"]
    assert [f["severity"] for f in plain["findings"] if f["message"].startswith(OPENSSL_ONLY)] == ["warning"], \
        plain["findings"]
    webpki = verdicts(lb_servers(lab), "webpki")
    assert webpki["plain"]["valid"] is False, webpki["plain"]
    assert {name for name in judged if webpki[name]["valid"] != judged[name]["valid"]} == {"plain"}

    plain_leaf = plain["verified_chain"][0]["fingerprint_sha256"]

    proc = run_playbook(REMEDIATE, inventory=Path(lab["dir"]) / "inventory.yml")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]

    judged, seen = agree(lab)
    assert set(seen.values()) == {"UP"}, seen
    assert judged["plain"]["verified_chain"][0]["fingerprint_sha256"] == plain_leaf  # healthy: left alone
    assert [f["severity"] for f in judged["plain"]["findings"] if f["message"].startswith(OPENSSL_ONLY)] == \
        ["warning"]
