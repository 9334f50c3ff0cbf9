"""The fleet report as an HTML page and as a Prometheus textfile (plugins/filter/report_formats.py)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError
from bench.report_bench import fleet_report

from ansible_collections.certops.backend_tls.plugins.filter import report_formats
from ansible_collections.certops.backend_tls.plugins.filter.report_formats import report_html, report_prometheus

RUN = "2026-12-02T15:43:04.432435Z"
RUN_EPOCH = 1796226184.432435
METRICS = ("backend_cert_valid", "backend_cert_not_after_timestamp_seconds", "backend_cert_days_remaining",
           "backend_cert_finding", "backend_cert_served_matches_disk", "backend_cert_last_run_timestamp_seconds",
           "backend_cert_remediation_total")
PROMTOOL = "/usr/bin/promtool"
# promtool's linter wants base units in names; the metric name backend_cert_days_remaining is the design's
# (docs/reports.md), so this one lint line is expected and no other.
DAYS_LINT = 'backend_cert_days_remaining use base unit "seconds" instead of "days"'


def verdict(valid=True, days=60, codes=(), fp="ab" * 32, not_after="2027-01-31T12:00:00Z", findings=None):
    if findings is None:
        findings = [{"code": c, "severity": "error", "message": "%s: the message" % c} for c in codes]
    return {"valid": valid, "codes": list(codes), "days_remaining": days, "fingerprint": fp, "not_after": not_after,
            "findings": findings}


NOT_SERVED = {"valid": False, "codes": ["NOT_SERVED"], "days_remaining": None, "fingerprint": None,
              "not_after": None, "findings": []}


def site(name, served=None, disk=None, status="ok", action="none", reasons=(), after=None, rolled_back=False,
         error=None, endpoint="default", server_names=None, matches=True, fix="nothing to do"):
    served = served if served is not None else verdict()
    if endpoint == "default":
        endpoint = {"host": "10.0.0.5", "port": 8443, "server_name": "%s.example.com" % name}
    return {
        "site": name, "server_type": "nginx", "action": action, "status": status, "reasons": list(reasons),
        "summary": "%s | %s | %s | %s" % (name, ", ".join(reasons) or "healthy", fix, status), "fix": fix,
        "endpoint": endpoint,
        "server_names": server_names if server_names is not None else ["%s.example.com" % name],
        "before": {"served": served, "disk": disk if disk is not None else served, "served_matches_disk": matches,
                   "key_matches_cert": True, "error": None},
        "after": after, "rolled_back": rolled_back, "error": error,
    }


def report(*sites, host="web01", failed=None, **hosts):
    out = {"schema_version": 2, "run": RUN, "mode": "remediate", "check_mode": False,
           "hosts": {host: {"failed": failed, "sites": list(sites)}} if sites or failed else {}}
    for name, entry in hosts.items():
        out["hosts"][name] = entry
    return out


def v1(site_entry):
    """The same site as schema v1 wrote it: no endpoint, server_names, fix; verdicts without not_after, findings."""
    out = {k: v for k, v in site_entry.items() if k not in ("endpoint", "server_names", "fix")}
    out["before"] = dict(out["before"])
    for view in ("served", "disk"):
        out["before"][view] = {k: v for k, v in out["before"][view].items() if k not in ("not_after", "findings")}
    return out


def order(page, names):
    """The names in the order the page shows them (each given as it appears in a backend's heading)."""
    positions = {name: page.index("</span> %s <small>" % html.escape(name)) for name in names}
    return sorted(names, key=positions.get)


def series(text, metric):
    """{labels text: value} of one metric in a textfile."""
    out = {}
    for line in text.splitlines():
        if line.startswith(metric + "{"):
            labels, value = line[len(metric):].rsplit(" ", 1)
            out[labels] = value
    return out


def labels(host="web01", site_name="shop", endpoint="10.0.0.5:8443", server_name="shop.example.com", **extra):
    pairs = [("host", host), ("site", site_name), ("endpoint", endpoint), ("server_name", server_name)]
    pairs += list(extra.items())
    return "{%s}" % ",".join('%s="%s"' % pair for pair in pairs)


# -- HTML -------------------------------------------------------------------------------------------------------


def test_backends_are_sorted_by_urgency():
    page = report_html(report(
        site("healthy-far", served=verdict(days=300)),
        site("healthy-near", served=verdict(days=45)),
        site("fixed", served=verdict(False, days=-1, codes=["EXPIRED"]), status="done", action="push",
             reasons=["EXPIRED"], after=verdict(days=89)),
        site("soon", served=verdict(days=20, codes=["EXPIRES_SOON"]), status="planned", action="push",
             reasons=["EXPIRES_SOON"]),
        site("chain", served=verdict(False, days=200, codes=["INCOMPLETE_CHAIN"]), status="planned",
             action="push", reasons=["INCOMPLETE_CHAIN"]),
        site("expired", served=verdict(False, days=-5, codes=["EXPIRED"]), status="planned", action="push",
             reasons=["EXPIRED"]),
        site("rolledback", served=verdict(days=200), status="FAILED (config test failed), rolled back",
             action="push", reasons=["FORCED"], rolled_back=True, error="config test failed"),
        site("failed", served=verdict(days=10), status="FAILED (pre-flight)", action="push",
             reasons=["EXPIRES_SOON"], error="pre-flight"),
        failed="rolledback: config test failed",
    ))
    assert order(page, ["healthy-far", "healthy-near", "fixed", "soon", "chain", "expired", "rolledback",
                        "failed"]) == [
        "failed", "rolledback", "expired", "chain", "soon", "healthy-near", "fixed", "healthy-far"]
    # the failed host is named before any backend, with its reason
    assert page.index("<b>web01</b>: <span class=\"x\">rolledback: config test failed") < page.index(
        "</span> failed <small>")
    headings = re.findall(r"<h2>([^<(]+) \(\d+\)</h2>", page)
    assert headings == ["Failed hosts", "Failing", "Invalid", "Expiring soon or needing attention", "Healthy"]


@pytest.mark.parametrize("days,valid,colour", [
    (-1, False, "red"), (200, False, "red"), (0, True, "orange"), (6, True, "orange"), (7, True, "amber"),
    (29, True, "amber"), (30, True, "green"), (None, True, "grey"),
])
def test_colour_by_days_remaining(days, valid, colour):
    page = report_html(report(site("shop", served=verdict(valid, days=days))))
    assert re.findall(r'<article class="(\w+)">', page) == [colour]
    # the thresholds are stated in the page
    assert "orange: under 7 days" in page and "amber: under 30 days" in page and "green: 30 days or more" in page


HOSTILE = '<script>alert("x")</script>'
QUOTES = '"><img src=x onerror=alert(1)>\'&amp;'


def test_every_string_from_the_report_is_escaped():
    hostile = site(HOSTILE, served=verdict(False, days=-3, codes=["EXPIRED"], findings=[
        {"code": HOSTILE, "severity": "error", "message": QUOTES}]), status=QUOTES, action="push",
        reasons=["EXPIRED", HOSTILE], error=HOSTILE, fix=QUOTES, server_names=[QUOTES, HOSTILE],
        endpoint={"host": HOSTILE, "port": QUOTES, "server_name": QUOTES},
        after=verdict(days=89, fp=HOSTILE, findings=[{"code": QUOTES, "severity": "warning", "message": HOSTILE}]))
    hostile["server_type"] = HOSTILE
    data = report(hostile, host=QUOTES, failed=HOSTILE)
    data["mode"], data["run"], data["schema_version"] = HOSTILE, QUOTES, HOSTILE
    page = report_html(data)
    assert "<script" not in page.lower()  # no script at all: neither the report's nor the page's own
    assert "<img" not in page
    assert page.count(html.escape(HOSTILE)) >= 8  # site, host failure, error, reason, names, type, code, mode...
    assert html.escape(QUOTES) in page
    for escaped in ("&lt;script&gt;", "&quot;&gt;&lt;img", "&#x27;&amp;amp;"):
        assert escaped in page


def test_the_page_is_self_contained_and_for_phones():
    page = report_html(fleet_report(60, hostile=False))
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "<style>" in page and "<svg" in page
    for external in ("src=", "href=", "<link", "@import", "url(", "<script", "<iframe", "<object", "<img"):
        assert external not in page, external
    assert page.count("http") == page.count("its certificate is at http://")  # only the report's own words
    assert "overflow-wrap:anywhere" in page  # long names wrap instead of widening the page


def test_each_backend_says_where_what_and_how_to_fix():
    shop = site("shop", served=verdict(False, days=-3, codes=["EXPIRED"], fp="1" * 64), status="done",
                action="push", reasons=["EXPIRED"], server_names=["shop.example.com", "www.shop.example.com"],
                fix="push the renewed certificate, chain and key, test, reload, verify",
                after=verdict(days=89, fp="2" * 64))
    page = report_html(report(shop))
    assert "shop <small>on web01</small>" in page
    assert "10.0.0.5:8443 SNI shop.example.com" in page
    assert "names: shop.example.com, www.shop.example.com" in page
    assert "<b class=\"x\">EXPIRED</b> EXPIRED: the message" in page  # the finding with its message
    assert "Fix: push the renewed certificate, chain and key, test, reload, verify" in page
    assert "before (served): 1111111111111111\u2026, expired 3 days ago, invalid \u2192 after: " \
           "2222222222222222\u2026, 89 days left, valid" in page
    assert "rolled back" not in page


@pytest.mark.parametrize("after,says", [
    (verdict(False, days=-3, codes=["EXPIRED"], fp="1" * 64), "rolled back, serving the old certificate again"),
    (verdict(True, days=89, fp="4" * 64), "rolled back, NOT serving the old certificate"),
    ({"serving_old": True, "fingerprint": "1" * 64}, "rolled back, serving the old certificate again"),
    ({"serving_old": False, "fingerprint": "3" * 64}, "rolled back, NOT serving the old certificate"),
])
def test_a_rollback_is_reported(after, says):
    shop = site("shop", served=verdict(False, days=-3, codes=["EXPIRED"], fp="1" * 64), action="push",
                status="FAILED (reload failed), rolled back", reasons=["EXPIRED"], rolled_back=True,
                error="reload failed", after=after)
    page = report_html(report(shop))
    assert says in page
    assert "\u2192 after: %s\u2026" % after["fingerprint"][:16] in page
    assert "1 rolled back" in page  # the header's count of this run's results


def test_header_run_mode_check_mode_and_counts():
    expired = site("b", served=verdict(False, days=-1, codes=["EXPIRED"]), status="planned", action="push",
                   reasons=["EXPIRED"])
    data = report(site("a", served=verdict(days=90)), expired)
    data["mode"], data["check_mode"] = "diagnose", True
    page = report_html(data)
    assert "Run 2026-12-02 15:43:04 UTC \u00b7 mode diagnose \u00b7 check mode yes" in page
    assert "2 backends on 1 host." in page
    assert '<span class="red">1 invalid</span>' in page and '<span class="green">1 healthy</span>' in page
    assert "This run: 1 planned." in page


def test_a_v1_report_renders_with_unknowns():
    expired = v1(site("fleet003", served=verdict(False, days=-21, codes=["EXPIRED"]), status="planned",
                      action="push", reasons=["EXPIRED"],
                      fix="push the renewed certificate, chain and key, test, reload, verify"))
    data = report(expired, v1(site("fleet000")))
    data["schema_version"] = 1
    page = report_html(data)
    assert "endpoint unknown" in page and "names unknown" in page
    assert "<b class=\"x\">EXPIRED</b> the certificate has expired" in page  # no message in v1: the code's words
    assert "Fix: push the renewed certificate, chain and key, test, reload, verify" in page  # from the summary
    assert order(page, ["fleet000", "fleet003"]) == ["fleet003", "fleet000"]
    text = report_prometheus(data)
    assert series(text, "backend_cert_days_remaining") == {
        labels(site_name="fleet000", endpoint="", server_name=""): "60",
        labels(site_name="fleet003", endpoint="", server_name=""): "-21"}
    assert series(text, "backend_cert_not_after_timestamp_seconds") == {}  # v1 has no not_after: not invented


def test_the_page_depends_only_on_the_report():
    data = fleet_report(50)
    assert report_html(data) == report_html(data)
    page = report_html(report(site("shop", served=verdict(days=12))))
    assert "12 days left" in page  # days come from the report, not from a clock


def test_the_timeline_aggregates_marks():
    page = report_html(fleet_report(1000))
    svg = page[page.index("<svg"):page.index("</svg>")]
    days_span = 120 - (-30) + 1
    assert svg.count("<title>") <= days_span
    assert svg.count("<rect") <= 2 * days_span + 3  # per day one bar (+ its invalid part), three shaded zones
    one = report_html(report(site("shop", served=verdict(False, days=-5, codes=["EXPIRED"]))))
    assert "<title>-5 days: 1 backend</title>" in one
    many = report_html(report(*(site("s%d" % n, served=verdict(days=200)) for n in range(3))))
    assert "<title>\u2265120 days: 3 backends</title>" in many  # clamped to the edge


def test_a_1000_backend_page_stays_under_2_mb():
    page = report_html(fleet_report(1000))
    assert page.count("<article") >= 1000
    assert len(page.encode("utf-8")) < 2 * 1024 * 1024


def test_not_a_report_is_refused():
    with pytest.raises(AnsibleFilterError, match="not the cert_remediation fleet report"):
        report_html(["not", "a", "report"])
    with pytest.raises(AnsibleFilterError, match="report_prometheus"):
        report_prometheus({"hosts": ["web01"]})


def test_an_empty_report():
    assert "The report holds no backend." in report_html(report())
    assert series(report_prometheus(report()), "backend_cert_valid") == {}


# -- Prometheus -------------------------------------------------------------------------------------------------


def test_every_metric_has_help_and_type_and_no_other_is_written():
    text = report_prometheus(fleet_report(100))
    for name in METRICS:
        kind = "counter" if name.endswith("_total") else "gauge"
        assert text.count("# HELP %s " % name) == 1 and "# TYPE %s %s\n" % (name, kind) in text
    written = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")}
    assert written == set(METRICS)


def test_a_remediated_site_every_series():
    shop = site("shop", served=verdict(False, days=-3, codes=["EXPIRED"]), disk=verdict(False, days=-3,
                                                                                        codes=["EXPIRED"]),
                status="done", action="push", reasons=["EXPIRED"],
                after=verdict(days=89, not_after="2027-03-01T00:00:00Z", findings=[
                    {"code": "UNNEEDED_CERT", "severity": "warning", "message": "an extra certificate"},
                    {"code": "ROOT_INCLUDED", "severity": "info", "message": "the root is served"}]))
    text = report_prometheus(report(shop))
    one = labels(site_name="shop")
    assert series(text, "backend_cert_valid") == {one: "1"}
    assert series(text, "backend_cert_not_after_timestamp_seconds") == {one: "1803859200"}
    assert series(text, "backend_cert_days_remaining") == {one: "89"}  # after, not before
    assert series(text, "backend_cert_finding") == {labels(site_name="shop", code="UNNEEDED_CERT"): "1"}
    assert series(text, "backend_cert_served_matches_disk") == {one: "1"}
    assert series(text, "backend_cert_last_run_timestamp_seconds") == {'{host="web01"}': repr(RUN_EPOCH)}
    assert series(text, "backend_cert_remediation_total") == {
        labels(site_name="shop", result=result): "1" if result == "done" else "0"
        for result in ("done", "rolled_back", "failed", "planned", "not_reached", "manual")}


@pytest.mark.parametrize("entry,days,valid,codes", [
    # served when the site has an endpoint; the files when it has none; what is served since after a remediation
    (site("shop", served=verdict(days=5, codes=["EXPIRES_SOON"]), disk=verdict(days=80)), "5", "1",
     ["EXPIRES_SOON"]),
    (site("shop", served=NOT_SERVED, disk=verdict(days=80), endpoint=None), "80", "1", []),
    (site("shop", served=NOT_SERVED, disk=verdict(days=80)), None, "0", ["NOT_SERVED"]),  # endpoint down
    (site("shop", served=verdict(False, days=-2, codes=["EXPIRED"]), status="done", action="push",
          after=verdict(days=89)), "89", "1", []),
    # rolled back and serving the old one again: the old one's verdict; serving something else: unknown
    (site("shop", served=verdict(False, days=-2, codes=["EXPIRED"]), status="FAILED (x), rolled back",
          rolled_back=True, after={"serving_old": True, "fingerprint": "ab" * 32}), "-2", "0", ["EXPIRED"]),
    (site("shop", served=verdict(False, days=-2, codes=["EXPIRED"]), status="FAILED (x), rolled back",
          rolled_back=True, after={"serving_old": False, "fingerprint": "cd" * 32}), None, None, []),
])
def test_which_certificate_the_values_describe(entry, days, valid, codes):
    text = report_prometheus(report(entry))
    server = "" if entry["endpoint"] is None else "10.0.0.5:8443"
    one = labels(site_name="shop", endpoint=server)
    assert series(text, "backend_cert_days_remaining") == ({one: days} if days else {})
    assert series(text, "backend_cert_valid") == ({one: valid} if valid else {})
    assert sorted(series(text, "backend_cert_finding")) == [
        labels(site_name="shop", endpoint=server, code=code) for code in codes]


def test_unknown_values_are_omitted_not_invented():
    shop = site("shop", served={"valid": None, "codes": [], "days_remaining": None, "fingerprint": "ab",
                                "not_after": None, "findings": []}, matches=None)
    api = site("api")
    text = report_prometheus(report(shop, api))
    for metric in ("backend_cert_valid", "backend_cert_days_remaining", "backend_cert_not_after_timestamp_seconds",
                   "backend_cert_served_matches_disk"):
        assert list(series(text, metric)) == [labels(site_name="api", server_name="api.example.com")], metric
    assert series(text, "backend_cert_remediation_total") == {}  # nothing was done or planned
    data = report(api)
    del data["run"]
    assert series(report_prometheus(data), "backend_cert_last_run_timestamp_seconds") == {}


def test_label_values_are_escaped_and_endpoints_written_host_port():
    text = report_prometheus(report(
        site('back\\slash "quoted"\nnewline', endpoint={"host": "2001:db8::5", "port": 443, "server_name": None},
             server_names=["first.example.com", "second.example.com"]),
        site("nothing", endpoint=None, server_names=[]),
        host='web"01'))
    assert set(series(text, "backend_cert_valid")) == {
        labels(host='web\\"01', site_name='back\\\\slash \\"quoted\\"\\nnewline', endpoint="[2001:db8::5]:443",
               server_name="first.example.com"),
        labels(host='web\\"01', site_name="nothing", endpoint="", server_name="")}
    assert '{host="web\\"01"}' in series(text, "backend_cert_last_run_timestamp_seconds")


@pytest.mark.parametrize("status,rolled_back,result", [
    ("done", False, "done"),
    ("FAILED (reload failed), rolled back", True, "rolled_back"),
    ("FAILED (pre-flight: no renewed material)", False, "failed"),
    ("planned", False, "planned"),
    ("not reached", False, "not_reached"),
    ("needs a person", False, "manual"),
])
def test_remediation_total_by_result(status, rolled_back, result):
    entry = site("shop", status=status, action="push", reasons=["FORCED"], rolled_back=rolled_back)
    totals = series(report_prometheus(report(entry)), "backend_cert_remediation_total")
    assert {key: value for key, value in totals.items() if value == "1"} == {labels(result=result): "1"}
    assert len(totals) == len(report_formats.RESULTS)


def test_a_repeated_series_is_written_once():
    # node_exporter refuses a whole textfile that repeats a series
    text = report_prometheus(report(site("shop", served=verdict(days=10)), site("shop", served=verdict(days=80))))
    assert series(text, "backend_cert_days_remaining") == {labels(): "10"}


def test_key_mismatch_is_a_finding_until_remediated():
    shop = site("shop", status="planned", action="push", reasons=["KEY_MISMATCH"])
    shop["before"]["key_matches_cert"] = False
    assert list(series(report_prometheus(report(shop)), "backend_cert_finding")) == [labels(code="KEY_MISMATCH")]
    shop.update(status="done", after=verdict(days=89))
    assert series(report_prometheus(report(shop)), "backend_cert_finding") == {}


def test_series_of_hosts_outside_this_run_are_kept():
    # a --limit run (or a later serial batch) must not silence the alerts of the hosts it did not run on
    before = report(site("shop", served=verdict(False, days=-3, codes=["EXPIRED"])),
                    web02={"failed": None, "sites": [site("api", served=verdict(days=5, codes=["EXPIRES_SOON"]),
                                                          status="planned", action="push")]},
                    web03={"failed": "unreachable", "sites": []})
    previous = report_prometheus(before)
    now = report(site("shop", served=verdict(days=89), status="done", action="push", after=verdict(days=89)))
    now["run"] = "2026-12-03T08:00:00Z"
    text = report_prometheus(now, previous)
    assert series(text, "backend_cert_days_remaining") == {
        labels(site_name="shop"): "89",  # this run's host: this run's value, the old one gone
        labels(host="web02", site_name="api", server_name="api.example.com"): "5"}  # kept as it was
    assert series(text, "backend_cert_finding") == {
        labels(host="web02", site_name="api", server_name="api.example.com", code="EXPIRES_SOON"): "1"}
    assert series(text, "backend_cert_last_run_timestamp_seconds") == {
        '{host="web01"}': "1796284800", '{host="web02"}': repr(RUN_EPOCH), '{host="web03"}': repr(RUN_EPOCH)}
    assert sum(1 for line in text.splitlines() if line.startswith("# HELP")) == len(METRICS)
    # kept again by the next run, not repeated
    assert report_prometheus(now, text) == text


def test_a_previous_file_keeps_only_this_filters_well_formed_series():
    previous = "\n".join([
        '# HELP node_load1 1m load average.', 'node_load1 0.5',  # another exporter's metric
        'backend_cert_valid{host="old",site="a",endpoint="",server_name=""} 1',  # kept
        'backend_cert_valid{host="old",site="b",endpoint="",server_name=""} 1',  # kept
        'backend_cert_valid{host="old",site="a",endpoint="",server_name=""} 1',  # the same series again
        'backend_cert_valid{host="old",site="c"} 1',  # other label names: node_exporter would refuse the file
        'backend_cert_valid{host="old",site="d",endpoint="",server_name=""} yes',  # no number
        'backend_cert_valid{host="old",site="e",endpoint="",server_name="" 1',  # broken
        'backend_cert_days_remaining{host="we said \\"hi\\"",site="x",endpoint="",server_name=""} 3',  # kept
    ])
    text = report_prometheus(report(site("shop")), previous)
    assert "node_load1" not in text
    assert set(series(text, "backend_cert_valid")) == {
        labels(), labels(host="old", site_name="a", endpoint="", server_name=""),
        labels(host="old", site_name="b", endpoint="", server_name="")}
    assert series(text, "backend_cert_days_remaining") == {
        labels(host='we said \\"hi\\"', site_name="x", endpoint="", server_name=""): "3", labels(): "60"}
    assert report_prometheus(report(site("shop")), None) == report_prometheus(report(site("shop")))


@pytest.mark.skipif(not os.access(PROMTOOL, os.X_OK), reason="promtool is not installed (Debian package prometheus)")
def test_promtool_accepts_a_realistic_fleet(tmp_path):
    earlier = fleet_report(300)
    now = fleet_report(200, seed=12)  # a run over fewer hosts: the others' series are kept from the earlier file
    text = report_prometheus(now, report_prometheus(earlier))
    assert len(series(text, "backend_cert_valid")) == 300
    (tmp_path / "backend_tls.prom").write_text(text)
    proc = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, check=False,
                          timeout=60)
    problems = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    # 0: clean; 3: lint problems only (1 would be a parse error); the only lint problem is the designed name's unit
    assert proc.returncode in (0, 3), problems
    assert problems in ([], [DAYS_LINT]), problems
    broken = text.replace('site="site0100"', 'site="site0100" x', 1)
    assert subprocess.run([PROMTOOL, "check", "metrics"], input=broken, capture_output=True, text=True,
                          check=False, timeout=60).returncode == 1  # the check does catch a broken file


def test_filters_and_import_without_cryptography():
    assert set(report_formats.FilterModule().filters()) == {"report_html", "report_prometheus"}
    code = ("import sys\n"
            "from ansible_collections.certops.backend_tls.plugins.filter import report_formats\n"
            "print(sorted(m for m in sys.modules if m.startswith('cryptography')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.stdout.strip() == "[]", out.stderr


def test_ansible_finds_the_filters(tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.copy:\n        dest: %s/report.html\n"
        "        content: \"{{ report | certops.backend_tls.report_html }}\"\n"
        "    - ansible.builtin.copy:\n        dest: %s/backend_tls.prom\n"
        "        content: \"{{ report | certops.backend_tls.report_prometheus(previous) }}\"\n" % (tmp_path, tmp_path))
    previous = report_prometheus(report(site("api"), host="web02"))
    (tmp_path / "vars.json").write_text(json.dumps({"report": report(site("shop")), "previous": previous}))
    binary = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    if not shutil.which(binary):
        pytest.skip("ansible-playbook is not next to %s" % sys.executable)
    proc = subprocess.run([binary, "-i", "localhost,", "-c", "local", "-e", "@%s" % (tmp_path / "vars.json"),
                           "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)],
                          capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (tmp_path / "report.html").read_text() == report_html(report(site("shop")))
    assert (tmp_path / "backend_tls.prom").read_text() == report_prometheus(report(site("shop")), previous)
    assert 'host="web02"' in (tmp_path / "backend_tls.prom").read_text()
