"""The shipped Prometheus rules (extensions/prometheus/) against promtool and against a real HAProxy (issue 11).

The key test starts a real HAProxy load balancer with its built-in Prometheus exporter in front of real TLS
backends (nginx), each broken in one way, plus backends that are DOWN for reasons that are not TLS. It scrapes
the exporter once every health check has settled, turns the scraped samples into a promtool test whose
expectations come from which backend is which (not from the scraped values), and runs it against the shipped
rules: LoadBalancerBackendCertificateError must fire for the TLS failures, for nothing else, and resolve once a
backend is fixed. The same generated test is then run against deliberately wrong variants of the rule, which
must fail it: a test that cannot fail proves nothing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from testlib import pki, servers

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "extensions" / "prometheus"
RULES = PROM / "rules.yml"
ALERT = "LoadBalancerBackendCertificateError"
NAME = "app.example.test"
INTER_MS = 300
FAMILIES = ("haproxy_server_check_status", "haproxy_server_status", "haproxy_server_check_failures_total")

# server -> (is a TLS failure the alert is for, check state HAProxy 2.6 was measured to report)
SCENARIOS = {
    "healthy": (False, "L7OK"),
    "expired": (True, "L6RSP"),
    "wrongname": (True, "L6RSP"),
    "unknownca": (True, "L6RSP"),
    "nointermediate": (True, "L6RSP"),
    "silent": (True, "L6TOUT"),
    "closed": (False, "L4CON"),
    "http500": (False, "L7STS"),
}
TLS_FAILURES = sorted(name for name, (tls, _state) in SCENARIOS.items() if tls)

promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(not promtool, reason="promtool is not installed (Debian: prometheus)")


def run_promtool(*args):
    return subprocess.run([promtool, *map(str, args)], capture_output=True, text=True, timeout=120, check=False)


# --- the shipped files ----------------------------------------------------------------------------------------

@needs_promtool
def test_rules_pass_promtool_check():
    proc = run_promtool("check", "rules", RULES)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 6 rules found" in proc.stdout


@needs_promtool
def test_shipped_unit_tests_pass():
    tests = sorted(PROM.glob("tests/*.yml"))
    assert {t.name for t in tests} >= {"loadbalancer.yml", "collection.yml"}
    proc = run_promtool("test", "rules", *tests)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == len(tests), proc.stdout


def test_every_alert_has_severity_annotations_and_a_runbook_anchor():
    """runbook_url = galaxy.yml's repository + /blob/main/README.md#<GitHub slug of the alert's ### heading>."""
    repository = yaml.safe_load((ROOT / "galaxy.yml").read_text())["repository"]
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## Alerts and runbook$(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert section, "README.md has no '## Alerts and runbook' section for the runbook links"
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    assert len(rules) == 6
    for rule in rules:
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}, name
        assert rule["annotations"]["runbook_url"] == "%s/blob/main/README.md#%s" % (repository, name.lower()), name
        assert re.search(r"^### %s$" % name, section.group(1), re.M), "no '### %s' under the section" % name


# --- a real HAProxy -------------------------------------------------------------------------------------------

class LoadBalancer(servers.HAProxy):
    """servers.HAProxy's start/stop (by pid file) with a configuration of our own."""

    def __init__(self, workdir, config, ports):
        super().__init__(workdir, [], plain_ports=ports)
        self.config = config

    def write_config(self):
        self.conf.write_text(self.config)


def parse_exposition(text):
    """[(family, {label: value}, value)] for the server families we feed to promtool."""
    samples = []
    for line in text.splitlines():
        match = re.match(r"^(\w+)\{(.*)\} (\S+)$", line)
        if match and match.group(1) in FAMILIES:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2)))
            samples.append((match.group(1), labels, float(match.group(3))))
    return samples


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through an http_proxy


def scrape(url):
    with _DIRECT.open(url, timeout=5) as response:
        return parse_exposition(response.read().decode())


def snapshot(samples):
    """{server: (check state whose series is 1, or INI when none is; status state whose series is 1)}."""
    view = {}
    for family, labels, value in samples:
        if value == 1 and family in ("haproxy_server_check_status", "haproxy_server_status"):
            check, status = view.get(labels["server"], ("INI", "?"))
            if family == "haproxy_server_check_status":
                check = labels["state"]
            else:
                status = labels["state"]
            view[labels["server"]] = (check, status)
    return view


def settle(url, done=lambda view: True, timeout=20.0, stable_for=1.0):
    """Scrape until every server has finished a check, done(view) holds, and the view stayed the same for
    stable_for seconds (more than three check intervals). Returns (samples, view)."""
    deadline = time.monotonic() + timeout
    previous, since, view = None, None, {}
    while time.monotonic() < deadline:
        samples = scrape(url)
        view = snapshot(samples)
        ready = set(view) >= set(SCENARIOS) and all(view[s][0] != "INI" for s in SCENARIOS) and done(view)
        if ready and view == previous:
            if time.monotonic() - since >= stable_for:
                return samples, view
        elif ready:
            previous, since = view, time.monotonic()
        else:
            previous = None
        time.sleep(0.2)
    raise AssertionError("the load balancer's checks did not settle within %ss: %s" % (timeout, view))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not (servers.have("haproxy") and servers.have("nginx")):
        pytest.skip("haproxy and nginx are needed (Debian packages haproxy, nginx)")
    work = tmp_path_factory.mktemp("promlab")
    ca, other = pki.CA("Prom"), pki.CA("Elsewhere")

    def site(name, leaf, chain):
        return {"name": name, "port": servers.free_port(), "server_names": [NAME],
                "cert": pki.write(work / ("%s.crt" % name), leaf.pem + chain),
                "key": pki.write(work / ("%s.key" % name), leaf.key_pem(), 0o600)}

    sites = [site("healthy", ca.leaf(NAME), ca.intermediate.pem),
             site("expired", ca.leaf(NAME, start_days=-100, days=10), ca.intermediate.pem),
             site("wrongname", ca.leaf("other.example.test"), ca.intermediate.pem),
             site("unknownca", other.leaf(NAME), other.intermediate.pem),
             site("nointermediate", ca.leaf(NAME), "")]
    ca_file = pki.write(work / "lb-ca.pem", ca.root.pem)
    metrics_port, http500_port, closed_port = servers.free_port(), servers.free_port(), servers.free_port()
    with servers.Misbehaving("silent") as silent, servers.Nginx(work / "nginx", sites) as nginx:
        tls = "ssl verify required ca-file %s sni str(%s) check check-ssl check-sni %s inter %dms fall 1 rise 1" % (
            ca_file, NAME, NAME, INTER_MS)
        ports = {s["name"]: s["port"] for s in sites}
        ports.update(silent=silent.port, closed=closed_port)
        config = "\n".join(
            ["global", "    stats socket %s/lb.sock mode 600 level admin" % (work / "lb"), "",
             "defaults", "    mode http", "    timeout connect 2s", "    timeout client 5s", "    timeout server 5s",
             "    timeout check 1s", "",
             "frontend metrics", "    bind 127.0.0.1:%d" % metrics_port,
             "    http-request use-service prometheus-exporter", "",
             "frontend http500", "    bind 127.0.0.1:%d" % http500_port, "    http-request return status 500", "",
             "backend be_app", "    option httpchk",
             "    http-check send meth GET uri / ver HTTP/1.1 hdr Host %s" % NAME]
            + ["    server %s 127.0.0.1:%d %s" % (name, port, tls) for name, port in ports.items()]
            + ["", "backend be_plain", "    option httpchk",
               "    server http500 127.0.0.1:%d check inter %dms fall 1 rise 1" % (http500_port, INTER_MS), ""])
        with LoadBalancer(work / "lb", config, [metrics_port, http500_port]):
            yield {"work": work, "ca": ca, "nginx": nginx, "sites": {s["name"]: s for s in sites},
                   "url": "http://127.0.0.1:%d/metrics" % metrics_port, "instance": "127.0.0.1:%d" % metrics_port}


def input_series(instance, before, after):
    """promtool input_series: each scraped sample held for 0..10m (before), then 11..30m (after)."""
    def key(family, labels):
        return family, tuple(sorted(labels.items()))

    values = {}
    for phase, samples in enumerate((before, after)):
        for family, labels, value in samples:
            values.setdefault(key(family, labels), [None, None])[phase] = value
    out = []
    for (family, labels), (first, second) in sorted(values.items()):
        text = ",".join('%s="%s"' % kv for kv in (("job", "haproxy"), ("instance", instance), *labels))
        held = ["_x10" if first is None else "%gx10" % first, "_x19" if second is None else "%gx19" % second]
        out.append({"series": "%s{%s}" % (family, text), "values": " ".join(held)})
    return out


def alerts_at(eval_time, state, servers_):
    return {"expr": 'count by (proxy, server) (ALERTS{alertname="%s",alertstate="%s"})' % (ALERT, state),
            "eval_time": eval_time,
            "exp_samples": [{"labels": '{proxy="be_app",server="%s"}' % s, "value": 1} for s in servers_]}


def write_promtool_test(path, rules, series):
    """Expectations from the scenario table: the TLS failures pend at 1m and fire at 10m; at 14m, after
    `expired` was fixed at 11m, the others still fire. Healthy and non-TLS-down servers never appear."""
    fixed = [s for s in TLS_FAILURES if s != "expired"]
    test = {"rule_files": [str(rules)], "evaluation_interval": "1m",
            "tests": [{"name": "scraped from a real HAProxy", "interval": "1m", "input_series": series,
                       "promql_expr_test": [alerts_at("1m", "pending", TLS_FAILURES), alerts_at("1m", "firing", []),
                                            alerts_at("10m", "firing", TLS_FAILURES),
                                            alerts_at("14m", "firing", fixed)]}]}
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def scraped(lab):
    """The exporter's samples with every scenario settled, then again after `expired` got a valid certificate."""
    before, view_before = settle(lab["url"])
    site = lab["sites"]["expired"]
    renewed = lab["ca"].leaf(NAME)
    pki.write(site["cert"], renewed.pem + lab["ca"].intermediate.pem)
    pki.write(site["key"], renewed.key_pem(), 0o600)
    subprocess.run(lab["nginx"].reload_command, check=True, capture_output=True, timeout=30)
    after, view_after = settle(lab["url"], done=lambda view: view["expired"][0] == "L7OK")
    return {"before": before, "after": after, "view_before": view_before, "view_after": view_after}


@needs_promtool
def test_haproxy_reports_each_scenario_as_measured(scraped):
    """The premise of the rule: what HAProxy 2.6's exporter says per scenario (docs/prometheus.md, 'Measured').
    Also guards the key test: healthy must really be UP and the non-TLS failures really DOWN, or 'does not
    fire for them' would prove nothing."""
    view = scraped["view_before"]
    observed = {server: view[server] for server in SCENARIOS}
    expected = {server: (state, "UP" if state == "L7OK" else "DOWN") for server, (_tls, state) in SCENARIOS.items()}
    assert observed == expected
    # one series per state, 1 on the current one: every checked server exposes the same 16 states
    states = {}
    for family, labels, value in scraped["before"]:
        if family == "haproxy_server_check_status":
            states.setdefault(labels["server"], {})[labels["state"]] = value
    assert {frozenset(s) for s in states.values()} == {frozenset(states["healthy"])}
    assert {"L6RSP", "L6TOUT", "L4CON", "L7STS", "L7OK"} <= set(states["healthy"]) and len(states["healthy"]) == 16
    assert all(sum(s.values()) == 1 for s in states.values()), states
    assert scraped["view_after"]["expired"] == ("L7OK", "UP")


@needs_promtool
def test_alert_fires_on_real_haproxy_signal_for_tls_failures_only(lab, scraped, tmp_path):
    series = input_series(lab["instance"], scraped["before"], scraped["after"])
    test = write_promtool_test(tmp_path / "real_haproxy_test.yml", RULES, series)
    proc = run_promtool("test", "rules", test)
    assert proc.returncode == 0, "%s\n%s\n(generated test: %s)" % (proc.stdout, proc.stderr, test)
    assert "SUCCESS" in proc.stdout


@needs_promtool
@pytest.mark.parametrize("wrong_expr", [
    'max without (state) (haproxy_server_status{state="DOWN"}) == 1',
    'max without (state) (haproxy_server_check_status{state!~"L7OK|L7OKC|L6OK|L4OK"}) == 1',
    'max without (state) (haproxy_server_check_status{state="L6RSP"}) == 1',
    'max without (state) (haproxy_server_check_status{state=~"L6RSP|L6TOUT"}) >= 0',
    'haproxy_server_check_failures_total > 0',
], ids=["any-down", "any-non-ok-check", "l6rsp-only", "ignores-value", "failure-counter"])
def test_generated_test_rejects_a_wrong_rule(lab, scraped, tmp_path, wrong_expr):
    """The generated test fails for rules that match any DOWN or non-OK server, miss L6TOUT, ignore the value,
    or never resolve -- so its success above means something."""
    shipped = 'max without (state) (haproxy_server_check_status{state=~"L6RSP|L6TOUT"}) == 1'
    text = RULES.read_text()
    assert shipped in text
    wrong = tmp_path / "wrong-rules.yml"
    wrong.write_text(text.replace(shipped, wrong_expr))
    assert run_promtool("check", "rules", wrong).returncode == 0
    series = input_series(lab["instance"], scraped["before"], scraped["after"])
    proc = run_promtool("test", "rules", write_promtool_test(tmp_path / "test.yml", wrong, series))
    assert proc.returncode != 0, proc.stdout
