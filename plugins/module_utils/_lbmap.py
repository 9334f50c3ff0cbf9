# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""From lb_backend_info results to verification and to inventory hosts (standard library only: filters use it).

`verify_groups` turns one load balancer's view into cert_chain_verify calls: one per distinct set of trust
anchors, each item carrying the backend's own check options (names, name rule, depth, whether the chain is
verified). `map_backends` says which inventory host answers for each backend, by explicit claim, by the site's
endpoint, by address or by name, and lists the backends nobody claims instead of guessing.
"""

from __future__ import annotations

MATCH_RULES = ("claim", "endpoint", "address", "name")


def label(backend):
    """pool/server, as HAProxy's stats and the report name a backend."""
    return "%s/%s" % (backend.get("pool"), backend.get("server"))


def _pem_by_fingerprint(result):
    return {c["fingerprint_sha256"]: c["pem"] for c in result.get("certificates") or [] if c.get("pem")}


def anchors_pem(result, backend, pems=None):
    """The backend's trust anchors as one PEM text ('' when it names none), or None when the result lacks their
    PEM (lb_backend_info ran with include_pem false)."""
    pems = _pem_by_fingerprint(result) if pems is None else pems
    return _joined(pems, backend.get("ca_fingerprints") or [])


def _joined(pems, fingerprints):
    """The PEM texts of these fingerprints as one text, each ending in a newline; None when one is missing."""
    if not all(fp in pems for fp in fingerprints):
        return None
    return "".join(pems[fp] if pems[fp].endswith("\n") else pems[fp] + "\n" for fp in fingerprints)


def crls_pem(result, backend):
    """The CRLs the load balancer checks this backend against, as one PEM text: '' when it checks none, None when
    the result lacks their PEM (lb_backend_info ran with include_pem false)."""
    options = backend.get("verify_options") or {}
    fingerprints = backend.get("crl_fingerprints") or []
    if not options.get("check_chain") or options.get("crl_check") in (None, "none") or not fingerprints:
        return ""
    return _joined({c.get("sha256"): c.get("pem") for c in result.get("crls") or [] if c.get("pem")}, fingerprints)


def served_chain(result, backend, pems=None):
    """The chain the load balancer was served, as PEM texts ([] when not probed or not reached)."""
    endpoint = backend.get("endpoint") or {}
    if endpoint.get("chain_pem"):
        return list(endpoint["chain_pem"])
    pems = _pem_by_fingerprint(result) if pems is None else pems
    return [pems[fp] for fp in endpoint.get("chain") or [] if fp in pems]


def verify_item(result, backend, pems=None):
    """(cert_chain_verify item, anchors PEM) judging this backend as its load balancer does, or (None, why)."""
    options = backend.get("verify_options")
    if not options:
        return None, "not TLS"
    if backend.get("disabled"):  # the load balancer neither checks it nor sends it traffic
        return None, "DISABLED"
    if backend.get("error"):
        return None, backend["error"]["code"]
    chain = served_chain(result, backend, pems)
    if not chain:
        return None, ((backend.get("endpoint") or {}).get("error") or {}).get("code") or "NOT_PROBED"
    anchors = anchors_pem(result, backend, pems) if options.get("check_chain") else ""
    if anchors is None:
        return None, "NO_ANCHOR_PEM"
    return dict(options, name=label(backend), chain=chain), anchors


def verify_groups(result):
    """One lb_backend_info result -> [{ca_content, crl_content, chains, backends}]: a cert_chain_verify call per
    distinct set of trust anchors and CRLs (None: no anchors, or no CRLs, needed or configured), chains its items,
    backends the index of each item's backend. A backend whose CRLs' PEM the result lacks is left out, as one
    whose anchors' PEM it lacks: judged without them, it would not be judged as its load balancer judges it."""
    pems = _pem_by_fingerprint(result)
    groups = {}
    for index, backend in enumerate(result.get("lb_backends") or []):
        item, anchors = verify_item(result, backend, pems)
        if item is None:
            continue
        crls = crls_pem(result, backend)
        if crls is None:
            continue
        group = groups.setdefault((anchors, crls), {"ca_content": anchors or None, "crl_content": crls or None,
                                                    "chains": [], "backends": []})
        group["chains"].append(item)
        group["backends"].append(index)
    return list(groups.values())


def _claims(value):
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _port(value):
    """An endpoint's port as the role reads it (443 when absent; text from a template is a number)."""
    try:
        return int(value) if value not in (None, "") else 443
    except (TypeError, ValueError):
        return None


def _match(backend, host, rule):
    if rule == "claim":
        return any(claim in (label(backend), backend.get("server")) for claim in _claims(host.get("claims")))
    if rule == "endpoint":
        wanted = (backend.get("address"), backend.get("port"))
        return any(isinstance(e, dict) and (e.get("host"), _port(e.get("port"))) == wanted
                   for e in host.get("endpoints") or [])
    if rule == "address":
        return backend.get("address") in (host.get("addresses") or [])
    return backend.get("server") == host.get("host")


def map_backends(views, hosts, match=MATCH_RULES):
    """Which inventory host answers for each load balancer backend.

    views: [{lb_host, result}] (lb_backend_info results); hosts: [{host, addresses, claims, endpoints}] for every
    host of the play. Rules are tried in the order of match; the first rule that names exactly one host decides.
    A backend two hosts claim under that rule is ambiguous, one no rule matches is unclaimed: both are reported,
    never guessed. Returns {backends: [entry], unclaimed: [entry], ambiguous: [entry]}, each entry the backend's
    place, its verdict inputs (item, ca_content or why not, crl_content) and, when mapped, host and matched_by.
    """
    unknown = [rule for rule in match if rule not in MATCH_RULES]
    if unknown:
        raise ValueError("unknown match rule(s) %s; use %s" % (", ".join(unknown), ", ".join(MATCH_RULES)))
    out = {"backends": [], "unclaimed": [], "ambiguous": []}
    for view in views:
        result = view.get("result") or {}
        pems = _pem_by_fingerprint(result)
        for backend in result.get("lb_backends") or []:
            if not backend.get("tls") or backend.get("disabled"):  # a disabled backend is no load balancer's concern
                continue
            item, anchors = verify_item(result, backend, pems)
            endpoint = backend.get("endpoint") or {}
            entry = {"lb_host": view["lb_host"], "pool": backend.get("pool"), "server": backend.get("server"),
                     "label": label(backend), "address": backend.get("address"), "port": backend.get("port"),
                     "verify": backend.get("verify"), "reached": endpoint.get("ok"),
                     # the leaf it was served: which of a server's certificates of several key types it judged
                     "served": (endpoint.get("chain") or [None])[0],
                     "error": backend.get("error") or endpoint.get("error"),
                     "item": item, "ca_content": anchors if item is not None else None,
                     # the CRLs it checks the backend against (None: none), as lb_verify_items hands them over
                     "crl_content": (crls_pem(result, backend) or None) if item is not None else None,
                     # the anchors by fingerprint, to tell which the site's load balancers share
                     "anchors": {fp: pems[fp] for fp in backend.get("ca_fingerprints") or [] if fp in pems}
                     if item is not None and item.get("check_chain") else {},
                     "host": None, "matched_by": None}
            for rule in match:
                found = [h["host"] for h in hosts if _match(backend, h, rule)]
                if len(found) == 1:
                    entry.update(host=found[0], matched_by=rule)
                    break
                if len(found) > 1:
                    entry.update(matched_by=rule, candidates=found)
                    break
            if entry["host"]:
                out["backends"].append(entry)
            else:
                out["ambiguous" if entry.get("candidates") else "unclaimed"].append(entry)
    return out
