"""The fleet report's HTML page at fleet size: how big it is and how long Chromium takes to load it.

fleet_report() builds a realistic report.json (schema v2, as the cert_remediation role writes it) for any
number of backends: distinct names, one to three sites per host, most healthy, the rest expiring, expired,
with broken chains or names, renewed but not reloaded, remediated, failed and rolled back, failed, not
reached, needing a person, and a few hostile names (markup, quotes, backslashes, newlines, a long name
without a space) as certificates and config files can carry. The unit and integration tests use it too.

bench_report() renders it and loads it in one headless Chromium (tests/testlib/chromium.py) several
times, each time next to a trivial HTML page loaded by the same browser: the reference, so the ratio holds
on a noisy shared machine.

    python tests/bench/report_bench.py [--backends 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import calendar
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
for _path in (str(HERE.parent), str(HERE.parents[1] / "build" / "collections")):
    if _path not in sys.path:
        sys.path.insert(0, _path)
from ansible_collections.certops.backend_tls.plugins.filter.report_formats import report_html  # noqa: E402
from testlib.chromium import DESKTOP, Browser  # noqa: E402

RUN = "2026-12-02T15:43:04.432435Z"
RUN_EPOCH = calendar.timegm(time.strptime(RUN[:19], "%Y-%m-%dT%H:%M:%S"))
FIX = {
    "none": "nothing to do",
    "reload": "reload the server (the files are already renewed)",
    "push": "push the renewed certificate, chain and key, test, reload, verify",
    "manual": "needs a person",
}
MESSAGES = {
    "EXPIRED": "certificate CN=%s expired on %s",
    "EXPIRES_SOON": "certificate CN=%s expires on %s, in fewer than 30 days",
    "INCOMPLETE_CHAIN": "no path to a trust anchor: the issuer of CN=%s (CN=Example Issuing CA 2) is missing; "
                        "its certificate is at http://pki.example.com/issuing2.crt (not after %s)",
    "NAME_MISMATCH": "CN=%s does not cover the name the load balancer asks for (not after %s)",
    "UNTRUSTED_ROOT": "the chain of CN=%s ends at a root the load balancer does not trust (not after %s)",
}
# Hostile names, as certificates and configuration files can carry them: the page must show them as text.
HOSTILE = [
    '<script>alert("pwned")</script>',
    'shop"><img src=x onerror=alert(1)>',
    "o'brien & sons <b>bold</b>",
    'back\\slash "quoted"\nnewline',
]
# A long name without a space (a phone must wrap it, not scroll sideways).
LONG = "paymentssettlementbackendeuwest1bluegreencanary0001.internal.dc2.example.net"


def _iso(run_epoch, days):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(run_epoch + days * 86400 + 3600))


def _verdict(rng, fqdn, days, codes, run_epoch, warnings=()):
    findings = [{"code": code, "severity": "error", "message": MESSAGES.get(code, "%s %%s %%s" % code) % (
        fqdn, _iso(run_epoch, days))} for code in codes]
    findings += [{"code": code, "severity": "warning", "message": MESSAGES[code] % (fqdn, _iso(run_epoch, days))}
                 for code in warnings]
    return {"valid": not codes, "codes": list(codes) + list(warnings), "days_remaining": days,
            "fingerprint": "%064x" % rng.getrandbits(256), "not_after": _iso(run_epoch, days),
            "findings": findings}


def _nothing():
    """The verdict of a chain that could not be had (the role's placeholder)."""
    return {"valid": False, "codes": ["NOT_SERVED"], "days_remaining": None, "fingerprint": None, "not_after": None,
            "findings": []}


def _site(rng, index, host, run_epoch, hostile):
    """One site of the report; the kind of problem depends on index (most are healthy)."""
    name = "site%04d" % index
    fqdn = "%s.%s" % (name, host.split(".", 1)[1])
    if hostile and index < len(HOSTILE):
        name, fqdn = HOSTILE[index], "%s.example.com" % HOSTILE[index]
    elif hostile and index == len(HOSTILE):
        name, fqdn = LONG.split(".", 1)[0], LONG
    kind = index % 50
    server_type = ("nginx", "apache", "haproxy")[index % 3]
    if kind == 7:
        endpoint = None  # no endpoint to probe: judged by its files
    elif kind == 11:
        endpoint = {"host": "2001:db8::%x" % index, "port": 443, "server_name": fqdn}
    else:
        endpoint = {"host": "10.%d.%d.%d" % (index // 65536 % 256, index // 256 % 256, index % 256),
                    "port": (443, 8443)[index % 2], "server_name": fqdn}
    healthy = _verdict(rng, fqdn, rng.randint(31, 397), (), run_epoch)
    served = disk = healthy
    after, status, action, reasons, rolled_back, error, matches = None, "ok", "none", [], False, None, True
    renewed = _verdict(rng, fqdn, 89, (), run_epoch)
    if kind in (0, 1, 2):  # expiring soon: pushed
        served = disk = _verdict(rng, fqdn, rng.randint(1, 29), (), run_epoch, warnings=("EXPIRES_SOON",))
        action, reasons, status, after = "push", ["EXPIRES_SOON"], "done", renewed
    elif kind == 3:  # expiring very soon, the run did not reach it
        served = disk = _verdict(rng, fqdn, rng.randint(0, 6), (), run_epoch, warnings=("EXPIRES_SOON",))
        action, reasons, status = "push", ["EXPIRES_SOON"], "not reached"
    elif kind in (4, 5):  # expired
        served = disk = _verdict(rng, fqdn, -rng.randint(1, 60), ("EXPIRED",), run_epoch)
        action, reasons, status, after = "push", ["EXPIRED"], "done", renewed
    elif kind == 6:  # expired, the push failed and was rolled back
        served = disk = _verdict(rng, fqdn, -rng.randint(1, 60), ("EXPIRED",), run_epoch)
        action, reasons, rolled_back = "push", ["EXPIRED"], True
        error = "config test failed: nginx: [emerg] cannot load certificate key"
        status = "FAILED (%s), rolled back" % error
        # what is served after the rollback: verified again, or only the role's "serving the old one" check
        after = dict(served) if index // 50 % 2 else {"serving_old": True, "fingerprint": served["fingerprint"]}
    elif kind == 8:  # incomplete chain, the push failed before anything was written
        served = disk = _verdict(rng, fqdn, rng.randint(31, 300), ("INCOMPLETE_CHAIN",), run_epoch)
        action, reasons = "push", ["INCOMPLETE_CHAIN"]
        error = "pre-flight: the renewed chain has fewer than 30 days left"
        status = "FAILED (%s)" % error
    elif kind == 9:  # wrong name, still planned (the host's batch came later)
        served = disk = _verdict(rng, fqdn, rng.randint(31, 300), ("NAME_MISMATCH",), run_epoch)
        action, reasons, status = "push", ["NAME_MISMATCH"], "not reached"
    elif kind == 10:  # renewed on disk, never reloaded: reloaded
        served = _verdict(rng, fqdn, -rng.randint(1, 30), ("EXPIRED",), run_epoch)
        disk, matches = renewed, False
        action, reasons, status, after = "reload", ["EXPIRED", "SERVED_DIFFERS_FROM_DISK"], "done", renewed
    elif kind == 12:  # certificate path only known at request time
        served = _verdict(rng, fqdn, -rng.randint(1, 30), ("EXPIRED",), run_epoch)
        disk, matches = _nothing(), None
        action, reasons, status = "manual", ["EXPIRED", "DYNAMIC_PATH"], "needs a person"
    elif kind == 13:  # untrusted root
        served = disk = _verdict(rng, fqdn, rng.randint(31, 300), ("UNTRUSTED_ROOT",), run_epoch)
        action, reasons, status, after = "push", ["UNTRUSTED_ROOT"], "done", renewed
    if endpoint is None:
        served, matches = _nothing(), None
    problem = ", ".join(reasons) or "healthy"
    return {
        "site": name, "server_type": server_type, "action": action, "status": status, "reasons": reasons,
        "summary": "%s | %s | %s | %s" % (name, problem, FIX[action], status), "fix": FIX[action],
        "endpoint": endpoint, "server_names": [fqdn, "www." + fqdn] if index % 4 == 0 else [fqdn],
        "before": {"served": served, "disk": disk, "served_matches_disk": matches,
                   "key_matches_cert": None if action == "manual" else True, "error": None},
        "after": after, "rolled_back": rolled_back, "error": error,
    }


def fleet_report(backends=1000, seed=11, hostile=True):
    """A schema v2 fleet report of `backends` sites on about backends/2 hosts (mode remediate), deterministic for
    a seed; with hostile, the first sites carry hostile names and one host failed with a hostile reason."""
    rng = random.Random(seed)
    run_epoch = RUN_EPOCH
    hosts, index, number = {}, 0, 0
    while index < backends:
        host = "web%04d.dc%d.example.net" % (number, number % 3 + 1)
        count = min(backends - index, (1, 2, 3, 2)[number % 4])
        hosts[host] = {"failed": None, "sites": [_site(rng, index + n, host, run_epoch, hostile)
                                                 for n in range(count)]}
        for site in hosts[host]["sites"]:
            if site["status"].startswith("FAILED"):
                hosts[host]["failed"] = "%s: %s" % (site["site"], site["error"])
        index += count
        number += 1
    hosts["web-unreachable.example.net"] = {"failed": "no TLS site found on web-unreachable.example.net: "
                                                      "declare cert_remediation_sites or check discovery",
                                            "sites": []}
    if hostile:
        hosts['<b>evil"host</b>'] = {"failed": "<script>alert('host')</script> & \"quoted\"", "sites": []}
    return {"schema_version": 2, "run": RUN, "mode": "remediate", "check_mode": False, "hosts": hosts}


def bench_report(work: Path, backends=1000, runs=3):
    """Render a `backends`-site fleet report and load it `runs` times in one headless Chromium, each time after
    a trivial page loaded by the same browser (the reference). Returns {size_bytes, render_seconds,
    reference_seconds, python_seconds}: seconds from navigation to the load event, per run."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    report = fleet_report(backends)
    python_seconds = []
    for _attempt in range(runs):
        start = time.perf_counter()
        page = report_html(report)
        python_seconds.append(time.perf_counter() - start)
    html_path, trivial = work / "report.html", work / "trivial.html"
    html_path.write_text(page, encoding="utf-8")
    trivial.write_text('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>t</title></head>'
                       "<body><p>trivial</p></body></html>\n", encoding="utf-8")
    render, reference = [], []
    with Browser() as browser:
        browser.open(trivial.as_uri(), **DESKTOP)  # warm-up: the first navigation pays for the renderer
        browser.open(html_path.as_uri(), **DESKTOP)
        for _attempt in range(runs):
            reference.append(browser.open(trivial.as_uri(), **DESKTOP))
            render.append(browser.open(html_path.as_uri(), **DESKTOP))
    return {"size_bytes": len(page.encode("utf-8")), "render_seconds": render, "reference_seconds": reference,
            "python_seconds": python_seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="certops-report-bench-") as work:
        result = bench_report(Path(work), args.backends, args.runs)
    result["render_median"] = statistics.median(result["render_seconds"])
    result["reference_median"] = statistics.median(result["reference_seconds"])
    result["ratio"] = result["render_median"] / result["reference_median"]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
