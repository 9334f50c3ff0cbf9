# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side helpers of the cert_remediation role: what to verify, what to do, what to push."""

from __future__ import annotations

import json

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

# Only what the standard library can do at import time: Ansible imports every filter file of the collection in
# every forked worker (each host, each task), and importing cryptography there costs more than the work.
from ansible_collections.certops.backend_tls.plugins.module_utils._base import (
    CertError,
    certificate_pems,
    expires_soon,
    fingerprint,
    is_ip,
    pem_der,
)
from ansible_collections.certops.backend_tls.plugins.module_utils._names import checkable_names
from ansible_collections.certops.backend_tls.plugins.plugin_utils._filter_input import takes

ACTIONS = ("none", "reload", "push", "manual")


def _by(items, key):
    return {item[key]: item for item in items or []}


def _endpoint_of(collected, site):
    ep = site.get("endpoint") or {}
    for endpoint in collected.get("endpoints", []):
        if (endpoint["host"], endpoint["port"], endpoint["server_name"], endpoint.get("key_type")) == (
                ep.get("host"), ep.get("port"), ep.get("server_name"), ep.get("key_type")):
            return endpoint
    return None


def _pems(entry, pem_by_fingerprint):
    """An endpoint's or file's chain as PEM texts: its chain_pem when the result has it, else each certificate's
    PEM found by fingerprint (backend_cert_info returns each certificate's PEM once)."""
    if "chain_pem" in entry:
        return list(entry["chain_pem"] or [])
    return [pem_by_fingerprint[fp] for fp in entry.get("chain") or [] if fp in pem_by_fingerprint]


def _pem_index(collected):
    """{fingerprint: PEM} of a backend_cert_info result's certificates (those returned with their PEM)."""
    return {c["fingerprint_sha256"]: c["pem"] for c in collected.get("certificates") or [] if "pem" in c}


def _disk_chain(collected, site, pem_by_fingerprint):
    files = _by(collected.get("files"), "path")
    chain = []
    for key in ("cert_file", "chain_file"):
        entry = files.get(site.get(key)) if site.get(key) else None
        if entry:
            chain.extend(_pems(entry, pem_by_fingerprint))
    return chain


def _chains_to_verify(collected):
    """(site name, view, item) for every chain of a backend_cert_info result that must be verified: the chain
    each site serves ('served') and the one in its files ('disk'), with every name the site must answer for."""
    pem_by_fingerprint = _pem_index(collected)
    for site in collected.get("sites", []):
        names = _site_names(site)
        endpoint = _endpoint_of(collected, site)
        served = _pems(endpoint, pem_by_fingerprint) if endpoint else []
        if served:
            yield site["name"], "served", {"chain": served, "server_names": names}
        disk = _disk_chain(collected, site, pem_by_fingerprint)
        if disk:
            yield site["name"], "disk", {"chain": disk, "server_names": names}


@takes("a backend_cert_info result (a dict with sites, endpoints, files and certificates)")
def site_verify_items(collected):
    """backend_cert_info result -> cert_chain_verify items: '<site>|served' and '<site>|disk' per site."""
    return [dict(item, name="%s|%s" % (site, view)) for site, view, item in _chains_to_verify(collected)]


def _site_names(site, declared=None):
    """Every name the load balancer may ask the site for: all of them are checked.

    A site without names is checked for the name its endpoint is probed with (SNI), when that is a name.
    """
    names = (declared or {}).get("server_names") or site.get("server_names") or []
    sni = (site.get("endpoint") or {}).get("server_name")
    return checkable_names(names) or checkable_names([sni] if sni else [])


def _verdict(result, min_days):
    if result is None:
        return {"valid": False, "codes": ["NOT_SERVED"], "days_remaining": None, "fingerprint": None,
                "not_after": None, "findings": []}
    codes, findings = [], []
    for finding in result["findings"]:
        if finding["severity"] == "error" and finding["code"] not in codes:
            codes.append(finding["code"])
        if finding["severity"] in ("error", "warning"):
            findings.append({key: finding.get(key) for key in ("code", "severity", "message")})
    days = result.get("days_remaining")
    if result["valid"] and expires_soon(days, min_days):  # valid but expiring soon: acted on like invalid
        codes.append("EXPIRES_SOON")
    chain = result.get("verified_chain")
    # the path's first certificate; else (compact and valid, or no path to an anchor) the leaf the verdict judged
    fingerprint = chain[0]["fingerprint_sha256"] if chain else (result.get("leaf") or {}).get("fingerprint_sha256")
    return {"valid": result["valid"], "codes": codes, "days_remaining": days, "fingerprint": fingerprint,
            "not_after": (result.get("leaf") or {}).get("not_after"), "findings": findings}


@takes("a backend_cert_info result, the cert_chain_verify result over its site_verify_items (a dict "
       "with results) and the declared sites (a list)")
def remediation_plan(collected, verified, declared=None, min_days=30, force=False):
    """Decide per site: 'none', 'reload' (the files are good, the server serves something else) or 'push'.

    A site is acted on when what it serves has an error finding, fewer than min_days left, or differs
    from its files -- or when force is true. Returns one dict per site with the declared site's keys
    (source, owner, commands...) kept, plus action, reasons, before. verified is the result of
    cert_chain_verify over site_verify_items(collected), its results named '<site>|<view>'.
    """
    verdicts = {tuple(result["name"].rsplit("|", 1)): result for result in (verified or {}).get("results") or []}
    return _plan(collected, verdicts, declared, min_days, force)


def _merge(verdicts):
    """The worst of several verdicts on the same site: valid only if all are, every code and finding once, the
    fewest days left (and that verdict's notAfter)."""
    merged = dict(verdicts[0], codes=[], findings=[])
    seen = set()
    for verdict in verdicts:
        merged["valid"] = merged["valid"] and verdict["valid"]
        merged["codes"] += [c for c in verdict["codes"] if c not in merged["codes"]]
        for finding in verdict["findings"]:
            key = (finding.get("code"), finding.get("message"))
            if key not in seen:
                seen.add(key)
                merged["findings"].append(finding)
        if verdict["days_remaining"] is not None and (
                merged["days_remaining"] is None or verdict["days_remaining"] < merged["days_remaining"]):
            merged["days_remaining"], merged["not_after"] = verdict["days_remaining"], verdict["not_after"]
        merged["fingerprint"] = merged["fingerprint"] or verdict["fingerprint"]
    return merged


_LB_CRL_CODES = ("CRL_MISSING", "CRL_EXPIRED", "CRL_INVALID")


def _lb_view_of(site_lb, verdicts, site_name, min_days, view, own):
    """The site as its load balancers see it, for one view (lb: what they are served, lbdisk: the site's files
    under their checks): (verdict, lines, codes of the load balancers' own problems).

    A problem on the load balancer's side (it cannot reach or negotiate with the backend, or its configuration or
    CA file cannot be used: the entry's error, or nothing was judged) is a code no certificate push fixes. When no
    load balancer judged a chain, the site's own verdict stays, with those codes added."""
    judged, lines, side = [], [], []
    for index, entry in site_lb:
        code = (entry["error"] or {}).get("code") if view == "lb" else None
        if entry["item"] is not None:
            verdict = _verdict(verdicts.get((site_name, "%s:%d" % (view, index))), min_days)
            judged.append(verdict)
        else:
            verdict = dict(_verdict(None, min_days), codes=[])
            code = (entry["error"] or {}).get("code") or "NOT_PROBED"
        if code and view == "lb":
            verdict = dict(verdict, valid=False, codes=[code] + [c for c in verdict["codes"] if c != code])
            if code not in side:
                side.append(code)
        if view == "lb":  # its CRL file missing, out of date or not its CA's: no certificate push fixes that
            side.extend(c for c in verdict["codes"] if c in _LB_CRL_CODES and c not in side)
        lines.append({"lb_host": entry["lb_host"], "backend": entry["label"], "matched_by": entry["matched_by"],
                      "verify": entry["verify"], "valid": verdict["valid"], "codes": verdict["codes"]})
    merged = _merge([own] + judged) if view == "lbdisk" or not judged else _merge(judged)
    if side:
        merged = dict(merged, valid=False, codes=side + [c for c in merged["codes"] if c not in side])
    return merged, lines, side


def _plan(collected, verdicts, declared, min_days, force, lb_sites=None):
    """The one place that decides what each site of one host needs. verdicts: {(site name, view): result};
    lb_sites: {site name: [(index, load balancer entry)]} when load balancers judge the site."""
    declared = _by(declared or [], "name")
    lb_sites = lb_sites or {}
    # the file each path names on the host, symlinks followed (backend_cert_info's files[].realpath)
    realpaths = {f["path"]: f.get("realpath") or f["path"] for f in collected.get("files") or []}
    plan = []
    for site in collected.get("sites", []):
        served = _verdict(verdicts.get((site["name"], "served")), min_days)
        disk = _verdict(verdicts.get((site["name"], "disk")), min_days)
        endpoint = _endpoint_of(collected, site)
        lb_lines, lb_side, site_lb = None, [], lb_sites.get(site["name"])
        if site_lb:  # what the alert asks: the load balancers' own verdict, and their checks on the files
            served, lb_lines, lb_side = _lb_view_of(site_lb, verdicts, site["name"], min_days, "lb", served)
            disk = _lb_view_of(site_lb, verdicts, site["name"], min_days, "lbdisk", disk)[0]
        if endpoint and endpoint.get("chain"):
            served["fingerprint"] = endpoint["chain"][0]
        matches = site.get("served_matches_disk")
        reasons = list(served["codes"])
        if matches is False:
            reasons.append("SERVED_DIFFERS_FROM_DISK")
        if site.get("key_matches_cert") is False:
            reasons.append("KEY_MISMATCH")
        if force:
            reasons.append("FORCED")
        # loaded and sent to no client, or a key type this host cannot ask for: a push cannot change the first, nor
        # be verified after the reload in the second
        not_served = (site.get("error") or {}).get("code") if (site.get("error") or {}).get("code") in _UNPROBED \
            else None
        if not_served:
            reasons = [not_served] + [r for r in reasons if r != "NOT_SERVED"]
        if not reasons:
            action = "none"
        elif not force and (lb_side or not_served):
            action = "manual"  # the load balancer cannot reach, negotiate with or judge the backend: no push fixes it
        elif not force and matches is False and disk["valid"] and not disk["codes"] and \
                site.get("key_matches_cert") is not False:
            action = "reload"  # renewed on disk, never reloaded: nothing to push
        else:
            action = "push"
        entry = dict(declared.get(site["name"], {}))
        cert_path = entry.get("cert_path") or site.get("cert_file")
        if action != "none" and not cert_path:
            # Discovered with a path only known at request time (nginx $variable, Apache ${VAR}): there is no
            # file to write or reload for; a person must look.
            action = "manual"
            reasons.append((site.get("error") or {}).get("code") or "NO_CERT_PATH")
        key_path = entry.get("key_path") or site.get("key_file")
        chain_path = entry.get("chain_path") or site.get("chain_file")
        names = _site_names(site, entry)
        names += [n for n in _lb_names(lb_sites.get(site["name"])) if n not in names]
        live_files = {kind: realpaths.get(path, path) if path else None
                      for kind, path in (("cert", cert_path), ("key", key_path), ("chain", chain_path))}
        entry.update({
            "name": site["name"], "server_type": entry.get("server_type") or site.get("server_type"),
            "cert_path": cert_path,
            "key_path": key_path,
            "chain_path": chain_path,
            # what pre-flight compares to find sites sharing a file, through whatever links name it
            "live_files": live_files,
            "layout": _layout(live_files),
            "endpoint": site.get("endpoint"),
            "server_names": names,
            "subject_alt_names": subject_alt_names(names),
            "action": action, "reasons": reasons,
            "before": {"served": served, "disk": disk, "served_matches_disk": matches,
                       "key_matches_cert": site.get("key_matches_cert"),
                       "error": site.get("error")},
        })
        if lb_lines is not None:
            entry["before"]["lb"] = lb_lines
            entry["lb_side"] = lb_side
            # what pre-flight and re-verification must also pass: each load balancer's own checks and anchors
            entry["lb_checks"] = [{"ca_content": lb["ca_content"] or "", "crl_content": lb.get("crl_content") or "",
                                   "options": {k: v for k, v in lb["item"].items() if k not in ("name", "chain")}}
                                  for _i, lb in site_lb if lb["item"] is not None]
        if site_lb is not None:
            entry["ca_content"] = _lb_anchors(site_lb)
        plan.append(entry)
    return plan


def subject_alt_names(names):
    """Normalised names (checkable_names) as a certificate's subject alternative names are written (community.crypto's
    x509_certificate_info): what a renewed certificate must hold, each as its ACME identifier type (RFC 8738: an
    address is an IP identifier, never a DNS one)."""
    return [("IP:" if is_ip(name) else "DNS:") + name for name in names]


def _layout(files):
    """What each of a site's files holds, from the files its paths name on the host (symlinks followed): the one
    rule tasks/push.yml writes by and pre-flight checks.

    - fullchain: the certificate file holds the leaf and its intermediates, the key file the key (nginx, Apache);
    - chain_file: the certificate file the leaf, a chain file of its own the intermediates (SSLCertificateChainFile);
    - combined: one file holds leaf, intermediates and key (HAProxy: key path and certificate path name one file);
    - combined_chain_file: one file holds leaf and key, a chain file of its own the intermediates;
    - chain_in_key: the chain path names the key file alone: nothing can be written (the intermediates would
      replace the key, or the key them), so pre-flight refuses a push;
    - None: no certificate file to write."""
    cert, key, chain = files["cert"], files["key"], files["chain"]
    if not cert:
        return None
    combined = key == cert
    if chain and chain != cert:  # a chain path naming the certificate file is a full chain there
        if chain == key:
            return "chain_in_key"
        return "combined_chain_file" if combined else "chain_file"
    return "combined" if combined else "fullchain"


_POLICY = ("ca_path", "ca_content", "min_days", "profile", "crl_content")
# a site's probe error that makes it a person's
_UNPROBED = ("KEY_TYPE_NOT_SERVED", "UNSUPPORTED_SETTING", "NO_PROBE_NAME")


def _lb_names(site_lb):
    """The names the site's load balancers check, in order."""
    names = []
    for _index, entry in site_lb or []:
        for name in checkable_names((entry["item"] or {}).get("server_names") or []):
            if name not in names:
                names.append(name)
    return names


def _site_for(entry, collected):
    """The site of a host that answers for a load balancer backend: the one whose endpoint is the backend's
    address and port, else the only one on its port (several sites on one port, told apart by SNI, or none on it:
    unplaced, reported). Where those are one server's certificates of several key types (`<site>+rsa`,
    `<site>+ec`), the one whose own probe was served the leaf the load balancer was served."""
    sites = collected.get("sites") or []

    def endpoint(site):
        return (site.get("endpoint") or {}).get("host"), (site.get("endpoint") or {}).get("port")

    files = _by(collected.get("files"), "path")

    def served(site):
        probe = _endpoint_of(collected, site) or {}
        return (probe.get("chain") or [None])[0]

    def disk(site):
        return (files.get(site.get("cert_file")) or {}).get("leaf")

    for found in ([s for s in sites if endpoint(s) == (entry["address"], entry["port"])],
                  [s for s in sites if endpoint(s)[1] == entry["port"]]):
        typed = len(found) > 1 and entry.get("served") and all((s.get("endpoint") or {}).get("key_type") for s in found)
        # the site whose probe got the same leaf; else (its probe got nothing: a TLS 1.3-only server behind a PROXY
        # protocol header) the one whose file holds it
        picked = ([s for s in found if served(s) == entry["served"]] or [s for s in found if disk(s) == entry["served"]]
                  ) if typed else found
        if len(picked) == 1:
            return picked[0]["name"]
    return None


def _lb_by_site(request, lb):
    """{site name: [(index, entry)]} for the load balancer backends mapped to this host, and the entries that
    fit no site of it. index numbers the host's backends (the verification's view 'lb:<index>').

    A backend placed on one key type's site of a server that serves several (`<site>+ec`) also judges the other
    types' sites (`<site>+rsa`): the same load balancer takes whichever its handshake gets, so each is checked
    as it checks, with its anchors and names, on the chain that site's own probe was served (a derived entry,
    indexed after the host's backends)."""
    by_site, unplaced = {}, []
    collected = request["collected"]
    backends = [e for e in (lb or {}).get("backends") or [] if e["host"] == request["host"]]
    for index, entry in enumerate(backends):
        name = _site_for(entry, collected)
        if name is None:
            unplaced.append(entry)
        else:
            by_site.setdefault(name, []).append((index, entry))
    sites = _by(collected.get("sites"), "name")
    pem_by_fingerprint = None
    index = len(backends)
    placed = set(by_site)
    for name, entries in list(by_site.items()):
        endpoint = sites[name].get("endpoint") or {}
        if not endpoint.get("key_type"):
            continue
        where = (endpoint.get("host"), endpoint.get("port"), endpoint.get("server_name"))
        for other in collected.get("sites") or []:
            theirs = other.get("endpoint") or {}
            if other["name"] in placed or not theirs.get("key_type") or \
                    (theirs.get("host"), theirs.get("port"), theirs.get("server_name")) != where:
                continue
            probe = _endpoint_of(collected, other) or {}
            if pem_by_fingerprint is None:
                pem_by_fingerprint = _pem_index(collected)
            chain = _pems(probe, pem_by_fingerprint)
            if not chain:  # its own probe was served nothing: judged by the host's own settings
                continue
            for _i, entry in entries:
                by_site.setdefault(other["name"], []).append((index, dict(
                    entry, served=(probe.get("chain") or [None])[0],
                    item=dict(entry["item"], chain=chain) if entry["item"] is not None else None)))
                index += 1
    return by_site, unplaced


def _lb_anchors(site_lb):
    """The trust anchors every verifying load balancer of the site shares, as PEM (compared by fingerprint: a CA
    file that also holds an intermediate still shares its root); None when there is none or they share nothing."""
    shared = None
    for _i, entry in site_lb or []:
        if entry["item"] is not None and entry["item"].get("check_chain") and entry.get("anchors"):
            shared = dict(entry["anchors"]) if shared is None else {
                fp: pem for fp, pem in shared.items() if fp in entry["anchors"]}
    if not shared:
        return None
    return "".join(pem if pem.endswith("\n") else pem + "\n" for _fp, pem in sorted(shared.items()))


def _requests(requests, name):
    """The hosts' requests, checked, with min_days a number (it arrives templated); name: the filter's."""
    out = []
    for request in requests or []:
        try:
            # force arrives templated, or as text from an AWX survey ("false"): a real boolean from here on
            out.append(dict(request, host=request["host"], collected=dict(request["collected"]),
                            ca_path=request.get("ca_path") or "", ca_content="", crl_content="",
                            min_days=int(request.get("min_days") or 0),
                            profile=request.get("profile") or "",
                            force=boolean(request.get("force") or False, strict=True)))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise AnsibleFilterError("%s: a request is not {host, collected, ca_path, min_days, profile}: %s"
                                     % (name, exc))
    return out


def _fleet_groups(requests, lb=None):
    """Checked requests -> one verification group per distinct trust policy (CA, min days, profile), each with
    its chains and, position for position, the (host, site, view) each chain belongs to.

    A site a load balancer judges (lb: the role's map of load balancer backends to hosts) is verified with that
    load balancer's trust anchors and also for the names it checks; the chain each of its load balancers was
    served is verified as that load balancer does (view 'lb:<index>', profile openssl, its check options)."""
    groups = {}

    def add(policy, item, ref):
        group = groups.setdefault(policy, {"chains": [], "refs": []})
        group["chains"].append(item)
        group["refs"].append(ref)

    for request in requests:
        host = request["host"]
        own = tuple(request[key] for key in _POLICY)
        lb_sites = _lb_by_site(request, lb)[0]
        for site, view, item in _chains_to_verify(request["collected"]):
            anchors = _lb_anchors(lb_sites.get(site))
            policy = ("", anchors, request["min_days"], request["profile"], "") if anchors else own
            names = list(item["server_names"]) + [n for n in _lb_names(lb_sites.get(site))
                                                  if n not in item["server_names"]]
            add(policy, dict(item, server_names=names, name="%s %s (%s)" % (host, site, view)), (host, site, view))
        disks = {site: item["chain"] for site, view, item in _chains_to_verify(request["collected"]) if view == "disk"}
        for site, entries in lb_sites.items():
            for index, entry in entries:
                if entry["item"] is None:
                    continue
                policy = ("", entry["ca_content"] or "", request["min_days"], "openssl", entry.get("crl_content") or "")
                label = "%s %s (%s %s" % (host, site, entry["lb_host"], entry["label"])
                add(policy, dict(entry["item"], name=label + ")"), (host, site, "lb:%d" % index))
                if site in disks:  # the files under this load balancer's checks: reload only if it would accept them
                    add(policy, dict(entry["item"], chain=disks[site], name=label + ", disk)"),
                        (host, site, "lbdisk:%d" % index))
    return [(dict(zip(_POLICY, policy)), group) for policy, group in groups.items() if group["chains"]]


@takes("a list of requests {host, collected, ca_path, min_days, profile} and the role's load balancer "
       "map (or none)")
def fleet_verify_items(requests, lb=None):
    """Many hosts' backend_cert_info results -> cert_chain_verify calls: one per trust policy, usually one.
    lb: the role's map of load balancer backends to hosts (see _lbmap.map_backends), when load balancers judge."""
    groups = _fleet_groups(_requests(requests, "fleet_verify_items"), lb)
    return [dict(policy, chains=group["chains"]) for policy, group in groups]


@takes("the requests given to fleet_verify_items, the cert_chain_verify calls registered over its "
       "items (a dict with results) and the same load balancer map (or none)")
def fleet_plan(requests, verified, lb=None):
    """Many hosts' requests + the cert_chain_verify calls made over fleet_verify_items(requests, lb), registered
    from a loop -> {host: {sites: plan, problem}} (plus lb_unplaced with lb); problem is why the host must fail,
    else None. With lb, a site its load balancers judge carries their shared anchors (ca_content), their own
    checks (lb_checks) and what each saw (before.lb)."""
    requests = _requests(requests, "fleet_plan")
    calls = (verified or {}).get("results") or []
    groups = _fleet_groups(requests, lb)
    if len(calls) != len(groups):
        raise AnsibleFilterError("fleet_plan: %d verification calls for %d groups of chains: the verify result "
                                 "does not belong to these requests" % (len(calls), len(groups)))
    verdicts = {}
    for (_policy, group), call in zip(groups, calls):
        results = call.get("results") or []
        if len(results) != len(group["refs"]):
            raise AnsibleFilterError("fleet_plan: a verification call returned %d results for %d chains%s" % (
                len(results), len(group["refs"]), ": %s" % call["msg"] if call.get("msg") else ""))
        for (host, site, view), result in zip(group["refs"], results):
            verdicts.setdefault(host, {})[(site, view)] = result
    plans = {}
    for request in requests:
        host, collected = request["host"], request["collected"]
        problem = None
        if not collected.get("sites"):
            problem = "no TLS site found on %s: declare cert_remediation_sites or check discovery %s" % (
                host, json.dumps(collected.get("discovery") or []))
        lb_sites, unplaced = _lb_by_site(request, lb)
        plans[host] = {"sites": _plan(collected, verdicts.get(host, {}), request.get("sites"), request["min_days"],
                                      request.get("force"), lb_sites),
                       "problem": problem}
        if lb is not None:
            plans[host]["lb_unplaced"] = [{"lb_host": e["lb_host"], "backend": e["label"], "address": e["address"],
                                           "port": e["port"]} for e in unplaced]
    return plans


def _load(pem):
    """The certificate of one PEM block; cryptography is imported here, by the filters that parse."""
    try:
        from cryptography import x509  # noqa: F401 (only: is it there)
    except ImportError:
        raise AnsibleFilterError("assemble_chain needs the cryptography Python library on the controller")
    from ansible_collections.certops.backend_tls.plugins.module_utils._certs import load_pem_certificate

    try:
        return load_pem_certificate(pem)
    except CertError as exc:
        raise AnsibleFilterError("assemble_chain: a certificate cannot be parsed: %s" % exc.message)


@takes("PEM text: the certificate, and its chain (strings)")
def assemble_chain(cert_pem, chain_pem=""):
    """Leaf + intermediates from cert.pem and chain.pem, duplicates removed, in path order, no root.

    Returns the list of PEM texts to push, leaf first.
    """
    blocks = certificate_pems((cert_pem or "") + "\n" + (chain_pem or ""))
    if not blocks:
        raise AnsibleFilterError("assemble_chain: the source holds no certificate")
    certs, seen = [], set()
    for block in blocks:
        cert = _load(block)
        if cert not in seen:  # Certificate objects hash and compare by their DER
            seen.add(cert)
            certs.append((block.decode("ascii", "replace").strip() + "\n", cert))
    leaf_pem, leaf = certs[0]
    ordered, rest, current = [leaf_pem], certs[1:], leaf
    while rest:
        parent = next((c for c in rest if c[1].subject == current.issuer), None)
        if parent is None or parent[1].subject == parent[1].issuer:
            break  # the root (or an unrelated certificate) is not pushed
        ordered.append(parent[0])
        rest.remove(parent)
        current = parent[1]
    return ordered


@takes("PEM text (a string)")
def pem_fingerprint(pem):
    """SHA-256 fingerprint (lowercase hex) of the first certificate in a PEM text."""
    blocks = certificate_pems(pem or "")
    if not blocks:
        raise AnsibleFilterError("pem_fingerprint: no certificate in the text")
    try:
        return fingerprint(pem_der(b"".join(blocks[0].splitlines()[1:-1])))
    except ValueError as exc:
        raise AnsibleFilterError("pem_fingerprint: the certificate's base64 is damaged: %s" % exc)


def _id_of(stat, name, number):
    """The owner (or group) to restore: its name, else its number as text. stat leaves the name out for an id with
    no passwd or group entry (containers, NFS, LDAP), and copy/file take a number given as text as that id; without
    it the restored file was left to the user Ansible runs as."""
    if stat.get(name):
        return stat[name]
    return str(stat[number]) if isinstance(stat.get(number), int) and not isinstance(stat[number], bool) else None


@takes("the ansible.builtin.stat results of the live files (a list of dicts with stat) and a backup "
       "directory (a string)")
def backup_plan(live, backup_path, links=None):
    """stat results of the live files -> [{path, existed, backup, mode, owner, group, link}] for push and rollback.

    The stat must follow symlinks (certbot's live/ -> ../archive/): mode and owner are the target's, which the
    push writes through the link and the rollback restores; a symlink's own mode (0777) is never a file's.

    links: stat results (follow: false) of the live paths the first stat found missing. One that is a symlink to
    nothing (its target removed) is written at its target, which did not exist and which a rollback removes: the
    entry's path is the target and its link the live path, which stays the link it was. (Written at the live path,
    the link itself was replaced by a file, and a rollback then removed the live path altogether.)
    """
    targets = {}
    for result in links or []:
        stat = (result or {}).get("stat") or {}
        path = result.get("__cert_remediation_file") or stat.get("path")
        if stat.get("islnk") and isinstance(path, str) and isinstance(stat.get("lnk_source"), str):
            targets[path] = stat["lnk_source"]
    plan = []
    for index, result in enumerate(live or []):
        stat = result.get("stat") or {}
        # stat names no path for a file that does not exist: the path the task was given, or its loop item
        path = result.get("__cert_remediation_file") or stat.get("path") or \
            ((result.get("invocation") or {}).get("module_args") or {}).get("path") or \
            result.get(result.get("ansible_loop_var") or "item")
        if not isinstance(path, str) or not path:
            raise AnsibleFilterError("backup_plan: stat result %d names no path; expects the results of a looped "
                                     "ansible.builtin.stat over the live files" % index)
        if stat.get("islnk"):
            raise AnsibleFilterError("backup_plan: %s is a symlink's own stat (mode %s); stat the live files with "
                                     "follow: true so the target's mode and owner are kept" % (path, stat.get("mode")))
        existed = bool(stat.get("exists"))
        link = path if not existed and path in targets else None
        plan.append({"path": targets[path] if link else path, "existed": existed, "link": link,
                     "backup": "%s/%d-%s" % (backup_path, index, path.rsplit("/", 1)[-1]),
                     "mode": stat.get("mode") if existed else None,
                     "owner": _id_of(stat, "pw_name", "uid") if existed else None,
                     "group": _id_of(stat, "gr_name", "gid") if existed else None})
    return plan


_FIX = {
    "none": "nothing to do",
    "reload": "reload: the files on disk are already good, the server never loaded them",
    "push": "push the renewed certificate, chain and key, test, reload, verify",
    "manual": "fix by hand: the certificate's path is only known at request time, so nothing is pushed",
}
_FIX_LB = ("fix by hand: the load balancer cannot reach, negotiate with or judge the backend (protocols, ciphers, "
           "network, or its own configuration, CA file or CRL file), which no certificate push fixes")


_FIX_UNPROBED = ("fix by hand: this host cannot ask the server for this certificate (see before.error), so a push "
                 "could not be verified")
_FIX_NO_NAME = ("fix by hand: no name was found that reaches this server (see before.error): a probe would get another "
                "server's certificate, so a push could not be verified; give the server a name clients send, make it "
                "its socket's default server, or remove it")
_FIX_NOT_SERVED = ("fix by hand: the server loads this certificate and sends it to no client (its protocols or "
                   "ciphers leave no handshake for its key type), which no certificate push fixes")


def _fix(entry):
    if entry["action"] == "manual" and entry.get("lb_side"):
        return _FIX_LB
    if entry["action"] == "manual" and "KEY_TYPE_NOT_SERVED" in entry["reasons"]:
        return _FIX_NOT_SERVED
    if entry["action"] == "manual" and "NO_PROBE_NAME" in entry["reasons"]:
        return _FIX_NO_NAME
    if entry["action"] == "manual" and "UNSUPPORTED_SETTING" in entry["reasons"]:
        return _FIX_UNPROBED
    return _FIX[entry["action"]]


@takes("the plan of remediation_plan or fleet_plan (a list of sites with name, action and reasons) "
       "and the outcomes by site name (a dict)")
def remediation_report(plan, results=None, mode="diagnose", check_mode=False):
    """Plan + per-site outcomes -> the role's report: before, action, after, rolled_back per site.

    In check mode nothing was applied, so every action is reported as planned.
    """
    results = results or {}
    report = []
    for entry in plan or []:
        outcome = results.get(entry["name"])
        problem = ", ".join(entry["reasons"]) or "healthy"
        if entry["action"] == "manual":
            status = "needs a person"
        elif mode == "remediate" and entry["action"] != "none" and not check_mode:
            if outcome is None:
                status = "not reached"
            elif outcome.get("error"):
                status = "FAILED (%s)%s" % (outcome["error"], ", rolled back" if outcome.get("rolled_back") else "")
            else:
                status = "done"
        else:
            status = "planned" if entry["action"] != "none" else "ok"
        report.append({
            "site": entry["name"], "server_type": entry.get("server_type"), "action": entry["action"],
            "reasons": entry["reasons"], "before": entry.get("before"),
            "after": (outcome or {}).get("after"), "rolled_back": bool((outcome or {}).get("rolled_back")),
            "error": (outcome or {}).get("error"), "status": status, "fix": _fix(entry),
            "endpoint": entry.get("endpoint"), "server_names": entry.get("server_names") or [],
            "summary": "%s | %s | %s | %s" % (entry["name"], problem, _fix(entry), status),
        })
    return report


class FilterModule:
    def filters(self):
        return {
            "site_verify_items": site_verify_items,
            "remediation_plan": remediation_plan,
            "fleet_verify_items": fleet_verify_items,
            "fleet_plan": fleet_plan,
            "assemble_chain": assemble_chain,
            "pem_fingerprint": pem_fingerprint,
            "backup_plan": backup_plan,
            "remediation_report": remediation_report,
        }
