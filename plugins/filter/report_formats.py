# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cert_remediation role's fleet report (report.json) for a person and for Prometheus: report_html renders a
self-contained HTML page, report_prometheus a node_exporter textfile.

Both are pure functions of the report: no clock, no network, no file. Only the standard library is imported: Ansible
imports every filter file of the collection in every forked worker.
"""

from __future__ import annotations

import calendar
import html
import math
import re

from ansible.errors import AnsibleFilterError

from ansible_collections.certops.backend_tls.plugins.plugin_utils._filter_input import takes

# Colour bands by days remaining of the certificate the load balancer gets (stated in the page).
RED_BELOW = 0
ORANGE_BELOW = 7
AMBER_BELOW = 30
# remediation_total's results: for a site acted on (or planned) one series per result, the site's one 1, the rest 0.
RESULTS = ("done", "rolled_back", "failed", "planned", "not_reached", "manual")
# Urgency groups, in page order.
GROUPS = ("Failing", "Invalid", "Expiring soon or needing attention", "Healthy")
# The expiry timeline's days: everything below/above is drawn at the edge.
_LOW = -30
_HIGH = 120

# A reason's meaning when the report has no finding message for it (schema v1, or a site-level reason).
_WORDS = {
    "EXPIRED": "the certificate has expired",
    "NOT_YET_VALID": "the certificate is not valid yet",
    "EXPIRES_SOON": "the certificate expires soon",
    "INCOMPLETE_CHAIN": "the chain lacks an intermediate: no path to the load balancer's anchors",
    "UNTRUSTED_ROOT": "the chain ends at a root the load balancer does not trust",
    "HOSTNAME_MISMATCH": "the certificate does not carry the name the load balancer asks for",
    "NAME_MISMATCH": "the certificate does not carry the name the load balancer asks for",
    "KEY_MISMATCH": "the key file does not belong to the certificate",
    "SERVED_DIFFERS_FROM_DISK": "the server serves another certificate than its files hold (not reloaded?)",
    "NOT_SERVED": "the endpoint served no certificate",
    "FORCED": "remediation forced",
    "DYNAMIC_PATH": "the certificate's path is only known at request time",
    "NO_CERT_PATH": "no certificate file is known for the site",
    "KEY_TYPE_NOT_SERVED": "the server loads the certificate and sends it to no client (its protocols or ciphers)",
    "UNSUPPORTED_SETTING": "this host cannot ask the server for the certificate as it is set up",
    "NO_PROBE_NAME": "no name was found that reaches the server: a probe would get another server's certificate",
}


def _bool(value):
    if isinstance(value, bool) or value is None:
        return value
    text = str(value).strip().lower()
    return True if text in ("true", "yes", "1") else False if text in ("false", "no", "0") else None


def _int(value):
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) else None


def _text(value):
    return "" if value is None else str(value)


_ISO = re.compile(r"^\s*(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d+)?\s*(Z|[+-]\d\d:?\d\d)?\s*$", re.I)


def _epoch(text):
    """ISO 8601 (UTC with Z, an offset, or none: UTC) -> seconds since the epoch; None when it is not one."""
    match = _ISO.match(_text(text))
    if not match:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        return None
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    zone = (match.group(8) or "Z").upper()
    if zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    fraction = match.group(7)
    return seconds + float(fraction) if fraction else seconds


def _verdict(value):
    """A report verdict, normalised: None when absent; a key absent from the report (schema v1) is None too."""
    if not isinstance(value, dict):
        return None
    findings = [{"code": _text(f.get("code")), "severity": _text(f.get("severity")), "message": _text(f.get("message"))}
                for f in value.get("findings") or [] if isinstance(f, dict)]  # schema v1: none
    fingerprint = value.get("fingerprint")
    return {"valid": _bool(value.get("valid")), "codes": [_text(c) for c in value.get("codes") or []],
            "days": _int(value.get("days_remaining")), "fingerprint": _text(fingerprint) if fingerprint else None,
            "not_after": value.get("not_after"), "findings": findings,
            "serving_old": _bool(value.get("serving_old"))}


def _nothing_served(verdict):
    return verdict["fingerprint"] is None and verdict["codes"] == ["NOT_SERVED"]


def _endpoint_label(endpoint):
    if not isinstance(endpoint, dict) or not endpoint.get("host"):
        return ""
    host = _text(endpoint["host"])
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    port = endpoint.get("port")
    return "%s:%s" % (host, port) if port not in (None, "") else host


def _result(status, rolled_back):
    if status.startswith("FAILED"):
        return "rolled_back" if rolled_back or "rolled back" in status else "failed"
    return {"done": "done", "planned": "planned", "not reached": "not_reached", "needs a person": "manual"}.get(status)


def _band(view):
    """Colour of a certificate: red (expired or invalid), orange, amber, green by days left; grey unknown."""
    if view is None:
        return "grey"
    days = view["days"]
    if view["valid"] is False or (days is not None and days < RED_BELOW):
        return "red"
    if days is None:
        return "grey"
    return "orange" if days < ORANGE_BELOW else "amber" if days < AMBER_BELOW else "green"


def _backend(host, site):
    """One site of the report, normalised, with the view the metrics and the page describe and its urgency."""
    before = site.get("before") if isinstance(site.get("before"), dict) else {}
    served, disk, after = _verdict(before.get("served")), _verdict(before.get("disk")), _verdict(site.get("after"))
    endpoint = site.get("endpoint")
    if "endpoint" in site:
        has_endpoint = isinstance(endpoint, dict)
    else:  # schema v1 does not say: the site has one when something was served
        has_endpoint = served is not None and not _nothing_served(served)
    before_view = "served" if has_endpoint and served is not None else "disk" if disk is not None else None
    if after is not None and (after["valid"] is not None or after["serving_old"] is False):
        view_name = "after"  # verified after a remediation or its rollback, or, rolled back, serving something else
    else:
        view_name = before_view  # nothing changed, or rolled back and serving what it served before
    view = {"after": after, "served": served, "disk": disk}.get(view_name)
    names = site.get("server_names")
    names = [_text(n) for n in names] if isinstance(names, list) else None
    server_name = (endpoint or {}).get("server_name") if isinstance(endpoint, dict) else None
    server_name = _text(server_name or (names[0] if names else ""))
    status = _text(site.get("status"))
    rolled_back = bool(_bool(site.get("rolled_back")))
    result = _result(status, rolled_back)
    reasons = [_text(r) for r in site.get("reasons") or []]
    days = view["days"] if view else None
    if result in ("failed", "rolled_back") or status.startswith("FAILED") or site.get("error"):
        group = 0
    elif view is not None and (view["valid"] is False or (days is not None and days < RED_BELOW)):
        group = 1
    elif view is None or view["valid"] is None or days is None or days < AMBER_BELOW or (
            view_name != "after" and (reasons or result)):  # a problem found, not (yet) fixed
        group = 2
    else:
        group = 3
    summary = _text(site.get("summary")).split(" | ")
    fix = site.get("fix") if site.get("fix") is not None else summary[2] if len(summary) == 4 else None
    return {
        "host": _text(host), "site": _text(site.get("site")),
        "server_type": site.get("server_type"), "action": _text(site.get("action")), "status": status,
        "reasons": reasons, "fix": fix, "v1_endpoint": "endpoint" not in site, "endpoint": endpoint,
        "endpoint_label": _endpoint_label(endpoint), "server_name": server_name, "server_names": names,
        "served": served, "disk": disk, "after": after, "before_view": before_view, "view_name": view_name,
        "view": view, "matches": _bool(before.get("served_matches_disk")),
        "key_matches": _bool(before.get("key_matches_cert")), "rolled_back": rolled_back or result == "rolled_back",
        "error": site.get("error"), "result": result, "group": group, "band": _band(view), "days": days,
    }


def _backends(report, name):
    """Every site of the report as a normalised backend, hosts in name order, sites in report order, and the
    hosts that failed with their reasons."""
    if not isinstance(report, dict) or not isinstance(report.get("hosts") or {}, dict):
        raise AnsibleFilterError("%s: the input is not the cert_remediation fleet report (a dict with hosts)" % name)
    backends, failed_hosts = [], []
    for host in sorted(report.get("hosts") or {}, key=str):
        entry = report["hosts"][host] if isinstance(report["hosts"][host], dict) else {}
        failed = entry.get("failed")
        if failed:
            failed_hosts.append((_text(host), _text(failed)))
        for site in entry.get("sites") or []:
            if isinstance(site, dict):
                backends.append(_backend(host, site))
    # lost before they reported: no sites to show, but never silently missing
    for host in sorted(report.get("unreached_hosts") or [], key=str):
        failed_hosts.append((_text(host), "lost before it reported: unreachable, or failed outside the role's "
                                          "rescue; the run's output says where, and what was done on it before"))
    return backends, failed_hosts


# ---------------------------------------------------------------------------------------------- Prometheus


_METRICS = (
    ("backend_cert_valid", "gauge",
     "1 when the backend's certificate is valid for its load balancer, else 0."),
    ("backend_cert_not_after_timestamp_seconds", "gauge",
     "When the backend's certificate expires, in seconds since the epoch."),
    ("backend_cert_days_remaining", "gauge",
     "Whole days the backend's certificate chain has left (negative once expired)."),
    ("backend_cert_finding", "gauge",
     "1 for each finding code the backend's certificate has now (label code); absent codes are not exported."),
    ("backend_cert_served_matches_disk", "gauge",
     "1 when the backend serves the certificate its files hold, 0 when it serves another one."),
    ("backend_cert_last_run_timestamp_seconds", "gauge",
     "When the cert_remediation run that wrote these metrics started, per inventory host."),
    ("backend_cert_remediation_total", "counter",
     "Remediations of the backend in the last cert_remediation run, by result (the file is rewritten every run)."),
)
_SITE_LABELS = ("host", "site", "endpoint", "server_name")


def _label_value(value):
    return _text(value).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _labels(pairs):
    return "{%s}" % ",".join('%s="%s"' % (name, _label_value(value)) for name, value in pairs)


def _number(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return "%d" % value
    return repr(float(value))


def _finding_codes(backend):
    """The codes the backend's current certificate has: its verdict's error codes, its findings' error and warning
    codes, and KEY_MISMATCH while the key file does not match (nothing was remediated since)."""
    view, codes = backend["view"], []
    if view is not None:
        codes.extend(view["codes"])
        codes.extend(f["code"] for f in view["findings"] if f["severity"] in ("error", "warning"))
    if backend["key_matches"] is False and backend["view_name"] != "after":
        codes.append("KEY_MISMATCH")
    return sorted({code for code in codes if code})


def _served_matches_disk(backend):
    if backend["result"] == "done":
        return True  # pushed or reloaded, then verified serving the files: they match now
    return backend["matches"]


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\} (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')


def _kept(previous, hosts):
    """{metric: [sample line]}: the series of a previous textfile of this filter for hosts not in this report, as
    they were. Lines of other metrics, with other label names, or that do not parse are dropped."""
    names = {name: _SITE_LABELS + ((extra,) if extra else ()) for name, extra in (
        ("backend_cert_valid", None), ("backend_cert_not_after_timestamp_seconds", None),
        ("backend_cert_days_remaining", None), ("backend_cert_finding", "code"),
        ("backend_cert_served_matches_disk", None), ("backend_cert_remediation_total", "result"))}
    names["backend_cert_last_run_timestamp_seconds"] = ("host",)
    current = {_label_value(host) for host in hosts}
    kept, seen = {}, set()
    for line in _text(previous).splitlines():
        match = _SAMPLE.match(line.strip())
        if not match or match.group(1) not in names:
            continue
        pairs = _LABEL.findall(match.group(2))
        try:
            float(match.group(3))
        except ValueError:
            continue
        if tuple(name for name, _value in pairs) != names[match.group(1)] or pairs[0][1] in current:
            continue
        if (match.group(1), match.group(2)) not in seen:
            seen.add((match.group(1), match.group(2)))
            kept.setdefault(match.group(1), []).append(line.strip())
    return kept


@takes("the cert_remediation fleet report (a dict with hosts) and the previous file's text")
def report_prometheus(report, previous=""):
    """The fleet report -> node_exporter textfile (Prometheus text exposition format 0.0.4). previous: the text of
    the textfile this filter wrote before (empty: none); its series of hosts not in this report are kept."""
    backends, _failed = _backends(report, "report_prometheus")
    samples = {name: [] for name, _type, _help in _METRICS}
    seen = set()
    for backend in backends:
        base = tuple(zip(_SITE_LABELS, (backend["host"], backend["site"], backend["endpoint_label"],
                                        backend["server_name"])))
        if base in seen:  # node_exporter refuses a whole file with a repeated series
            continue
        seen.add(base)
        labels, view = _labels(base), backend["view"] or {}
        if view.get("valid") is not None:
            samples["backend_cert_valid"].append((labels, view["valid"]))
        not_after = _epoch(view.get("not_after"))
        if not_after is not None:
            samples["backend_cert_not_after_timestamp_seconds"].append((labels, not_after))
        if view.get("days") is not None:
            samples["backend_cert_days_remaining"].append((labels, view["days"]))
        for code in _finding_codes(backend):
            samples["backend_cert_finding"].append((_labels(base + (("code", code),)), 1))
        matches = _served_matches_disk(backend)
        if matches is not None:
            samples["backend_cert_served_matches_disk"].append((labels, matches))
        for result in RESULTS if backend["result"] else ():
            samples["backend_cert_remediation_total"].append((_labels(base + (("result", result),)),
                                                              int(backend["result"] == result)))
    run = _epoch(report.get("run"))
    if run is not None:
        for host in sorted(report.get("hosts") or {}, key=str):
            samples["backend_cert_last_run_timestamp_seconds"].append((_labels((("host", host),)), run))
    kept = _kept(previous, report.get("hosts") or {})
    lines = []
    for name, kind, help_text in _METRICS:
        lines.append("# HELP %s %s" % (name, help_text))
        lines.append("# TYPE %s %s" % (name, kind))
        lines.extend("%s%s %s" % (name, labels, _number(value)) for labels, value in samples[name])
        lines.extend(kept.get(name, ()))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- HTML


_CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2329;background:#f4f5f7;
overflow-wrap:anywhere}
header,main,footer{max-width:60rem;margin:0 auto;padding:.5rem .75rem}
h1{font-size:1.35rem;margin:.2rem 0}h2{font-size:1.1rem;margin:1.2rem 0 .4rem}
h3{font-size:1rem;margin:0}p{margin:.15rem 0}ul{margin:.2rem 0;padding-left:1.2rem}
.c span{display:inline-block;padding:.1rem .5rem;margin:.15rem .2rem .15rem 0;border-radius:1rem;color:#fff}
article{background:#fff;border-left:.4rem solid #8a9199;border-radius:.3rem;padding:.45rem .65rem;margin:.4rem 0}
h3 small,.m{color:#59616a;font-weight:normal}
.d{display:inline-block;min-width:6.5rem;font-weight:600}
.s{font-weight:600}.x{color:#b3261e}.w{color:#8a5a00}
.k{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
.red{border-color:#c62828}.orange{border-color:#ef6c00}.amber{border-color:#f9a825}.green{border-color:#2e7d32}
.c .red{background:#c62828}.c .orange{background:#ef6c00}.c .amber{background:#b58100}.c .green{background:#2e7d32}
.c .grey{background:#6b737b}.c .dark{background:#5b1a14}
.h{background:#fff;border-left:.4rem solid #c62828;border-radius:.3rem;padding:.45rem .65rem .45rem 1.6rem}
svg{display:block;width:100%;max-width:40rem;height:auto;background:#fff;border-radius:.3rem}
svg text{font-size:10px;fill:#59616a}
"""
_JUDGED = {"after": "days and colour: what is served since the run", "disk": "days and colour: its files"}
_FILL = {"red": "#c62828", "orange": "#ef6c00", "amber": "#f9a825", "green": "#2e7d32"}


def _e(value):
    return html.escape(_text(value), quote=True)


def _days(days):
    if days is None:
        return "days unknown"
    if days < 0:
        return "expired %d day%s ago" % (-days, "" if days == -1 else "s")
    return "%d day%s left" % (days, "" if days == 1 else "s")


def _short(fingerprint):
    return fingerprint[:16] + "\u2026" if fingerprint and len(fingerprint) > 16 else fingerprint or "none"


def _state(verdict):
    if verdict is None:
        return "unknown"
    if verdict["valid"] is None and verdict["days"] is None:  # a rollback's check: only what is served
        return _short(verdict["fingerprint"])
    valid = {True: "valid", False: "invalid", None: "validity unknown"}[verdict["valid"]]
    return "%s, %s, %s" % (_short(verdict["fingerprint"]), _days(verdict["days"]), valid)


def _findings(backend):
    """<li> items: the findings of what the run found (with their messages), then reasons the findings do not
    explain (site-level, or every reason of a schema v1 report), then what is still found after a remediation."""
    items, seen, shown = [], set(), set()
    found = {"served": backend["served"], "disk": backend["disk"]}.get(backend["before_view"])
    for finding in found["findings"] if found is not None else ():
        seen.add(finding["code"])
        shown.add((finding["code"], finding["message"]))
        items.append('<li><b class="%s">%s</b> %s</li>' % (
            "x" if finding["severity"] == "error" else "w", _e(finding["code"]), _e(finding["message"])))
    for code in backend["reasons"]:
        if code not in seen:
            seen.add(code)
            items.append('<li><b class="x">%s</b> %s</li>' % (_e(code), _e(_WORDS.get(code, ""))))
    after = backend["after"]
    if backend["view_name"] == "after":
        items.extend('<li>now: <b class="%s">%s</b> %s</li>' % (
            "x" if f["severity"] == "error" else "w", _e(f["code"]), _e(f["message"]))
            for f in after["findings"] if (f["code"], f["message"]) not in shown)
    return "<ul>%s</ul>" % "".join(items) if items else ""


def _where(backend):
    if backend["v1_endpoint"]:
        endpoint = "endpoint unknown"
    elif backend["endpoint_label"]:
        sni = (backend["endpoint"] or {}).get("server_name")
        endpoint = "%s%s" % (_e(backend["endpoint_label"]), " SNI %s" % _e(sni) if sni else "")
    else:
        endpoint = "no endpoint"
    names = backend["server_names"]
    names = "names unknown" if names is None else "names: %s" % _e(", ".join(names)) if names else "no names"
    return '<p class="m">%s \u00b7 %s \u00b7 %s</p>' % (_e(backend["server_type"] or "server unknown"), endpoint, names)


def _change(backend):
    """What the run changed: before -> after, and whether it rolled back; empty when nothing was to be done."""
    if backend["action"] in ("", "none") and backend["after"] is None:
        return ""
    before = {"served": backend["served"], "disk": backend["disk"]}.get(backend["before_view"])
    text = "before (%s): %s" % (backend["before_view"] or "nothing known", _state(before))
    disk = backend["disk"]
    if backend["before_view"] == "served" and disk is not None and backend["matches"] is False:
        text += "; on disk: %s" % _state(disk)
    after = backend["after"]
    if after is not None:
        text += " \u2192 after: %s" % _state(after)
    elif backend["result"] in ("done", "rolled_back", "failed"):
        text += " \u2192 after: unknown"
    else:
        text += " \u2192 nothing changed"
    if backend["rolled_back"]:
        old = after["serving_old"] if after else None
        if old is None and after and after["fingerprint"] and before and before["fingerprint"]:
            old = after["fingerprint"] == before["fingerprint"]
        text += "; rolled back%s" % {True: ", serving the old certificate again",
                                     False: ", NOT serving the old certificate: look by hand"}.get(old, "")
    return '<p class="k">%s</p>' % _e(text)


def _article(backend):
    band = backend["band"]
    status = backend["status"] or "status unknown"
    head = '<article class="%s"><h3><span class="d">%s</span> %s <small>on %s</small></h3>' % (
        band, _days(backend["days"]), _e(backend["site"]), _e(backend["host"]))
    line = '<p><span class="s%s">%s</span>%s' % (
        " x" if backend["group"] == 0 else "", _e(status),
        " \u00b7 %s" % _e(backend["action"]) if backend["action"] not in ("", "none") else "")
    if backend["error"] and _text(backend["error"]) not in status:
        line += " \u00b7 %s" % _e(backend["error"])
    if backend["view_name"] in _JUDGED:
        line += ' \u00b7 <span class="m">%s</span>' % _JUDGED[backend["view_name"]]
    parts = [head, line + "</p>", _where(backend), _findings(backend)]
    if backend["group"] != 3 or backend["after"] is not None:
        if backend["fix"]:
            parts.append("<p>Fix: %s</p>" % _e(backend["fix"]))
        parts.append(_change(backend))
    parts.append("</article>")
    return "".join(parts)


def _timeline(backends):
    """Inline SVG: per day of days remaining (clamped to [_LOW, _HIGH]) one bar, its height by the number of
    backends (square root scale), the invalid ones stacked in red: a fixed number of marks whatever the fleet."""
    bins = {}
    unknown = 0
    for backend in backends:
        days = backend["days"]
        if days is None:
            unknown += 1
            continue
        day = min(max(days, _LOW), _HIGH)
        total, invalid = bins.get(day, (0, 0))
        bins[day] = (total + 1, invalid + (backend["band"] == "red" and days >= RED_BELOW))
    left, width, base, tall = 22, 352, 78, 66
    step = width / float(_HIGH - _LOW + 1)
    biggest = math.sqrt(max([total for total, _invalid in bins.values()] or [1]))

    def x(day):
        return left + (day - _LOW) * step

    marks = []
    for day in sorted(bins):
        total, invalid = bins[day]
        height = max(2.0, tall * math.sqrt(total) / biggest)
        colour = _band({"valid": True, "days": day})
        edge = "\u2264" if day == _LOW else "\u2265" if day == _HIGH else ""
        label = "%s%d days: %d backend%s%s" % (edge, day, total, "" if total == 1 else "s",
                                               ", %d invalid" % invalid if invalid else "")
        marks.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>' % (
            x(day), base - height, max(step - 0.4, 1.0), height, _FILL[colour], label))
        if invalid:
            red = height * invalid / total
            marks.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>' % (
                x(day), base - height, max(step - 0.4, 1.0), red, _FILL["red"]))
    ticks = ['<rect x="%.1f" y="10" width="%.1f" height="%d" fill="%s"/>' % (
        x(start), x(end) - x(start), base - 10, fill) for start, end, fill in (
            (_LOW, RED_BELOW, "#fdecea"), (RED_BELOW, ORANGE_BELOW, "#fff0e0"), (ORANGE_BELOW, AMBER_BELOW, "#fff8e1"))]
    for day, label in ((_LOW, "\u2264%d" % _LOW), (0, "0"), (ORANGE_BELOW, "7"), (AMBER_BELOW, "30"), (60, "60"),
                       (90, "90"), (_HIGH, "\u2265%d" % _HIGH)):
        ticks.append('<line x1="%.1f" x2="%.1f" y1="10" y2="%d" stroke="#b0b6bc" stroke-width=".5"/>'
                     '<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (
                         x(day) + step / 2, x(day) + step / 2, base + 3, x(day) + step / 2, base + 12, label))
    aria = "Expiry timeline: %d backends by days remaining%s" % (
        len(backends) - unknown, ", %d unknown not shown" % unknown if unknown else "")
    return ('<svg viewBox="0 0 400 96" role="img" aria-label="%s">%s%s'
            '<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#59616a" stroke-width=".6"/></svg>'
            '<p class="m">Days left, one bar per day (height: square root of the number of backends; red part: '
            "invalid ones). Shaded: expired, under %d, under %d days.%s</p>" % (
                aria, "".join(ticks), "".join(marks), left, left + width, base, base, ORANGE_BELOW, AMBER_BELOW,
                " %d backend%s with unknown days not shown." % (unknown, "" if unknown == 1 else "s")
                if unknown else ""))


def _yes_no(value):
    return {True: "yes", False: "no"}.get(_bool(value), "unknown")


def _run_label(run):
    match = _ISO.match(_text(run))
    if not match or _epoch(run) is None:
        return _e(run) if run else "unknown"
    return "%s-%s-%s %s:%s:%s%s" % (match.groups()[:6] + (" UTC" if (match.group(8) or "Z").upper() == "Z"
                                                          else " " + match.group(8),))


@takes("the cert_remediation fleet report (a dict with hosts)")
def report_html(report):
    """The fleet report -> one self-contained HTML page (inline CSS and SVG, no script), most urgent first."""
    backends, failed_hosts = _backends(report, "report_html")
    ordered = sorted(backends, key=lambda b: (b["group"], b["days"] if b["days"] is not None else -math.inf,
                                              b["host"], b["site"]))
    groups = [[b for b in ordered if b["group"] == index] for index in range(len(GROUPS))]
    hosts = report.get("hosts") or {}
    results = {}
    for backend in backends:
        if backend["result"]:
            results[backend["result"]] = results.get(backend["result"], 0) + 1
    chips = [("dark", "%d host%s failed" % (len(failed_hosts), "" if len(failed_hosts) == 1 else "s"))
             ] if failed_hosts else []
    chips += [(colour if group else "grey", "%d %s" % (len(group), name.lower())) for colour, group, name in zip(
        ("red", "red", "amber", "green"), groups, ("failing", "invalid", "expiring soon or needing attention",
                                                   "healthy"))]
    run = _run_label(report.get("run"))
    out = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Backend TLS report, %s</title><style>%s</style></head><body><header>" % (run, _CSS.strip()),
        "<h1>Backend TLS certificates</h1>",
        '<p class="m">Run %s \u00b7 mode %s \u00b7 check mode %s \u00b7 report schema %s</p>' % (
            run, _e(report.get("mode") or "unknown"), _yes_no(report.get("check_mode")),
            _e(report.get("schema_version") or "unknown")),
        "<p>%d backend%s on %d host%s.</p>" % (len(backends), "" if len(backends) == 1 else "s", len(hosts),
                                               "" if len(hosts) == 1 else "s"),
        '<p class="c">%s</p>' % "".join('<span class="%s">%s</span>' % chip for chip in chips),
    ]
    if results:
        out.append("<p>This run: %s.</p>" % ", ".join(
            "%d %s" % (results[r], r.replace("_", " ")) for r in RESULTS if r in results))
    out.append(
        '<p class="m">Colours: days left on the certificate the load balancer gets (what is served; after a '
        "remediation, what is served since; for a site without an endpoint, its files):</p>"
        '<p class="c"><span class="red">red: expired or invalid</span><span class="orange">orange: under %d days'
        '</span><span class="amber">amber: under %d days</span><span class="green">green: %d days or more</span>'
        '<span class="grey">grey: unknown</span></p></header><main>' % (ORANGE_BELOW, AMBER_BELOW, AMBER_BELOW))
    out.append("<h2>Expiry timeline</h2>")
    out.append(_timeline(backends))
    if failed_hosts:
        out.append("<h2>Failed hosts (%d)</h2>" % len(failed_hosts))
        out.append('<ul class="h">%s</ul>' % "".join('<li><b>%s</b>: <span class="x">%s</span></li>' % (
            _e(host), _e(reason)) for host, reason in failed_hosts))
    for name, group in zip(GROUPS, groups):
        if group:
            out.append("<h2>%s (%d)</h2>" % (name, len(group)))
            out.extend(_article(backend) for backend in group)
    if not backends:
        out.append("<p>The report holds no backend.</p>")
    out.append('</main><footer class="m"><p>Written by certops.backend_tls from report.json; fingerprints are '
               "SHA-256, shortened.</p></footer></body></html>\n")
    return "".join(out)


class FilterModule:
    def filters(self):
        return {
            "report_html": report_html,
            "report_prometheus": report_prometheus,
        }
