# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What backend_cert_info does, without Ansible: files + endpoints + sites -> one result dict.

Each distinct certificate is parsed once and described once (`certificates`); files, endpoints
and sites refer to it by SHA-256 fingerprint. A bad file or endpoint becomes an item with an
`error`, never an exception.

It comes in two halves when the certificates are described on the controller (backend_cert_info's action plugin):
_gather.gather() runs on the host with the standard library alone (paths walked, files read and taken apart by
_material, endpoints probed) and returns the host's material, certificates as DER and keys by their public half
only; describe() here turns that material into the result collect() gives, with the same code. collect() does
both on the host.
"""

from __future__ import annotations

from ansible_collections.certops.backend_tls.plugins.module_utils import _base
from ansible_collections.certops.backend_tls.plugins.module_utils._base import CertError
from ansible_collections.certops.backend_tls.plugins.module_utils._collector import Collector, _HostFiles
from ansible_collections.certops.backend_tls.plugins.module_utils._gather import (
    _endpoints,
    _probe_all,
    declared_site,
    endpoint_key,
    expand_paths,
    parse_discover,
    parse_endpoint,
)


def _discovery():
    """The configuration parsers, imported only when a run discovers: a fleet run over declared sites imports
    this module once per host, and the parsers cost a fifth of the module's own import time."""
    from ansible_collections.certops.backend_tls.plugins.module_utils import _discover

    return _discover


def _discover_all(specs, run_command):
    """Discovery specs -> (sites, discovery report)."""
    from ansible_collections.certops.backend_tls.plugins.module_utils import _confread as readers  # as _discovery

    sites, report = [], []
    for spec in specs:
        parsers = _discovery()
        server_type, config = spec["type"], spec.get("config") or readers.default_config(spec["type"])
        status = {"server_type": server_type, "config_file": config, "sites": 0, "error": None}
        try:
            source = None
            if server_type == "nginx" and run_command is not None:
                source = readers.dump_source(run_command(server_type, config, spec.get("binary")), config)
            found = parsers.discover(server_type, config, source)
            status["sites"] = len(found)
            sites.extend(found)
        except CertError as exc:
            status["error"] = exc.as_dict()
        report.append(status)
    return sites, report


def _unique_names(sites):
    seen = {}
    for site in sites:
        base = site["name"]
        if base in seen:
            seen[base] += 1
            site["name"] = "%s-%d" % (base, seen[base])
        else:
            seen[base] = 1


# a key-type probe's failure that means the server does not send that type's certificate
_REFUSED_TYPE = ("TLS_HANDSHAKE_FAILED", "NO_COMMON_CIPHER", "NO_COMMON_PROTOCOL")
_GROUP = "_certificate_group"  # _discover.GROUP (not imported: a run that does not discover never loads _discover)
_HAPROXY_BIND = "_haproxy_bind"  # _discover.HAPROXY_BIND, likewise


def _certificate_groups(collector, all_sites):
    """The sites of a server that loads several certificates (_discover.certificate_group), once their files are read:
    the server holds one certificate of each key type, the last it loads of that type, so an earlier one of the same
    type is not served (dropped, with a warning); when it serves more than one key type, each of its sites is named
    for its type (`nginx-a.test+rsa`, `nginx-a.test+ec`) and probed asking for that type (endpoint key_type), since a
    client gets the one its handshake favours. Updates all_sites in place."""
    groups, dropped = {}, set()
    for site in all_sites:
        mark = site.pop(_GROUP, None)
        if mark is not None:
            groups.setdefault(mark[0], []).append(site)
    for members in groups.values():
        served = {}  # key type -> the site of the certificate the server keeps for it
        for site in members:  # in the order the server loads them
            kind = _kind(collector, site)
            if kind is None:
                continue
            if kind in served:
                dropped.add(id(served[kind]))
                collector.warnings.append(
                    "%s: %s is not served: %s, loaded after it, is a certificate of the same key type (%s), which "
                    "replaces it" % (site["name"], served[kind]["cert_file"], site["cert_file"], kind))
            served[kind] = site
        # two or more left (one whose type is unknown, a variable path or an unreadable file, too): each of a
        # known type is probed for it, or it would get whichever its handshake favours
        if len([site for site in members if id(site) not in dropped]) > 1:
            for kind, site in served.items():
                _of_key_type(site, kind)
    if dropped:
        all_sites[:] = [site for site in all_sites if id(site) not in dropped]


def _of_key_type(site, kind):
    """A site that is one key type's certificate of its server: named for it, its probe asking for it."""
    site["name"] = "%s+%s" % (site["name"], kind.lower())
    if site["endpoint"]:
        site["endpoint"] = dict(site["endpoint"], key_type=kind)


def _kind(collector, site):
    """The key type of a site's certificate (as KEY_TYPES spells it), or None."""
    leaf = collector.leaf_of(site["cert_file"]) if site["cert_file"] else None
    kind = collector.certificates[leaf]["public_key"]["type"] if leaf else None
    return kind if kind in _base.KEY_TYPES else None


def _answers(names, name):
    """Whether a certificate's names take this SNI, as HAProxy matches them (in lowercase: exactly, or a leading
    wildcard)."""
    names, name = {n.lower() for n in names}, name.lower()
    return name in names or ("." in name and "*." + name.split(".", 1)[1] in names)


def _haproxy_key_types(collector, all_sites, known):
    """HAProxy picks among the certificates of a `bind` that take a client's SNI by the key types the client can
    use (several `crt`, a directory, a `.rsa`/`.ecdsa` bundle): a discovered site whose probe name another of its
    bind's certificates, of another key type, takes too is probed asking for its own type and named for it
    (`haproxy-a.test+rsa`). known: {id(site): the names HAProxy knows its certificate by} (_read_files)."""
    binds = {}
    for site in all_sites:
        if site["origin"] == "discovered" and site["server_type"] == "haproxy" and site["endpoint"]:
            binds.setdefault((site["config_file"], tuple(site["listen"])), []).append(site)
    for members in binds.values():
        kinds = [_kind(collector, site) for site in members]
        for site, kind in zip(members, kinds):
            name = site["endpoint"]["server_name"]
            if kind and name and any(other is not site and theirs and theirs != kind and _answers(
                    known.get(id(other), other["server_names"]), name) for other, theirs in zip(members, kinds)):
                _of_key_type(site, kind)


def _haproxy_picked(members, name, known, binds_of):
    """The indexes, in load order, of a bind's certificates HAProxy picks among for this SNI (ssl_sock_switchctx_cbk,
    names in lowercase): those whose names hold it, else those whose leading wildcard takes it and whose crt-list
    line does not exclude it (a negative filter)."""
    name = name.lower()
    names = [{n.lower() for n in known.get(id(site), site["server_names"])} for site in members]
    exact = [index for index, held in enumerate(names) if name in held]
    if exact or "." not in name:
        return exact
    return [index for index, held in enumerate(names) if "*." + name.split(".", 1)[1] in held
            and name not in (binds_of.get(id(members[index])) or {}).get("excluded", ())]


def _haproxy_slot(kind):
    """The key type HAProxy chooses by (ssl_sock_switchctx_cbk): RSA, ECDSA, or any other (Ed25519 and Ed448 share
    one)."""
    return kind if kind in ("RSA", "EC") else "other"


def _haproxy_reach(collector, all_sites, known, binds_of):
    """HAProxy answers a name of a bind with the first certificate of each key type it loads with that name (a `crt`
    directory's files in name order, crt-list lines in order; held to HAProxy 2.6): a later one of the same type is
    never sent for it. A discovered site is probed with the first of the names HAProxy knows its certificate by that
    reaches it (known: its crt-list filters, else its DNS names and its CN: a name a client can send, else an example
    of a leading wildcard), without a name where it is its bind's first certificate (HAProxy's default; none with
    strict-sni), and otherwise not at all (NO_PROBE_NAME): it was probed with a name that got another certificate,
    and the role planned a reload that could change nothing. binds_of: {id(site): its bind (_discover.HAPROXY_BIND)}."""
    binds = {}
    for site in all_sites:  # each bind's certificates in the order HAProxy loads them (one it cannot: no names)
        if site["origin"] == "discovered" and site["server_type"] == "haproxy":
            binds.setdefault((site["config_file"], tuple(site["listen"])), []).append(site)
    if not binds:  # declared sites only (the role's fleet): the parsers are not imported (a worker compiles them)
        return
    discovery = _discovery()
    for members in binds.values():
        slots = [_haproxy_slot(_kind(collector, site)) for site in members]
        leaves = [collector.leaf_of(site["cert_file"]) if site["cert_file"] else None for site in members]
        for index, site in enumerate(members):
            if not (site["endpoint"] and site["cert_file"]) or site["error"] is not None:
                continue
            names = known.get(id(site), site["server_names"])
            wildcards = [n.lower()[1:] for n in names if discovery._leading_wildcard_name(n)]
            candidates = discovery.probe_candidates(names) + [
                # a name an earlier line's negative filter takes from its wildcard, which this one's takes
                excluded for other in members for excluded in (binds_of.get(id(other)) or {}).get("excluded", ())
                if "." in excluded and "." + excluded.split(".", 1)[1] in wildcards]
            reaching = [name for name in candidates if any(  # (the same certificate given twice is reached too)
                first == index or (leaves[index] and leaves[first] == leaves[index]) for first in [
                    i for i in _haproxy_picked(members, name, known, binds_of) if slots[i] == slots[index]][:1])]
            strict = (binds_of.get(id(site)) or {}).get("strict_sni")
            if reaching:
                site["endpoint"]["server_name"] = reaching[0]
            elif index == 0 and not strict:
                site["endpoint"]["server_name"] = None
            else:
                site["endpoint"] = None
                site["error"] = {"code": "NO_PROBE_NAME", "message": "not probed: %s; %s, so a probe would get "
                                 "another certificate, or none" % (
                                     ("an earlier certificate of its bind, of the same key type, holds each of its "
                                      "names (%s): HAProxy answers a name with the first it loads" % " ".join(names))
                                     if names else "no name of its certificate a client can send is known here",
                                     "its bind (%s) has strict-sni: HAProxy refuses a client that sends no name it "
                                     "knows" % ",".join(site["listen"]) if strict else
                                     "it is not the first certificate of its bind (%s), which a client that sends "
                                     "no name gets" % ",".join(site["listen"]))}


def _read_files(collector, expanded, all_sites):
    """Every file the task names into the collector, in the result's order: the paths, then each site's files."""
    for path, error in expanded:
        if error:
            collector.add_error(path, error)
        else:
            collector.add_file(path)
    known, binds_of = {}, {}  # HAProxy: the names it knows each certificate by; each site's bind
    for site in all_sites:
        for key in ("cert_file", "key_file", "chain_file"):
            if site[key]:
                collector.add_file(site[key])
        leaf = collector.leaf_of(site["cert_file"])
        bind = binds_of[id(site)] = site.pop(_HAPROXY_BIND, None)
        if (site["origin"] == "discovered" and site["server_type"] == "haproxy" and not site["server_names"]
                and leaf and not (bind or {}).get("filtered")):
            # HAProxy picks the certificate by SNI from its names: the cert's own names are the site's. It knows it
            # by its CN too, which is no name of the site (a client that verifies it does not take it).
            facts = collector.certificates[leaf]
            names = facts["sans"]["dns"] or ([facts["subject_cn"]] if facts["subject_cn"] else [])
            known[id(site)] = names + [facts["subject_cn"]] if facts["subject_cn"] not in names + [None] else names
            if names:  # (a bind line's accept-proxy is every one of its addresses')
                proxied = site["listen"] if (site["endpoint"] or {}).get("proxy_protocol") else ()
                site.update(_discovery().make_site("haproxy", site["config_file"], names, site["listen"],
                                                   site["cert_file"], site["key_file"], None, proxied=proxied))
    _certificate_groups(collector, all_sites)
    _haproxy_reach(collector, all_sites, known, binds_of)
    _haproxy_key_types(collector, all_sites, known)
    _unique_names(all_sites)


def collect(*, paths=(), endpoints=(), discover=(), sites=(), timeout=5.0, concurrency=16,
            include_pem=True, chain_pem=False, max_file_bytes=_base.DEFAULT_MAX_FILE_BYTES, run_command=None,
            now=None):
    """The whole backend_cert_info result (without `changed`), plus 'warnings'."""
    collector = Collector(include_pem=include_pem, chain_pem=chain_pem, max_file_bytes=max_file_bytes, now=now)
    targets = [parse_endpoint(spec) for spec in endpoints]
    specs = [parse_discover(item) for item in discover]
    all_sites = [dict(declared_site(spec), origin="declared") for spec in sites]
    expanded = expand_paths(paths)
    found, discovery = _discover_all(specs, run_command)
    all_sites.extend(dict(site, origin="discovered") for site in found)
    _read_files(collector, expanded, all_sites)
    keyed, order = _endpoints(targets, all_sites)
    probes, warnings = _probe_all(keyed, order, timeout, concurrency)
    collector.warnings.extend(warnings)
    return _result(collector, all_sites, keyed, order, probes, discovery)


# -- the two halves: gather() on the host, describe() where cryptography describes the certificates


def describe(gathered, *, include_pem=True, chain_pem=False, now=None):
    """collect()'s result from what gather() found on a host."""
    files = _HostFiles(gathered)
    collector = Collector(include_pem=include_pem, chain_pem=chain_pem, now=now, files=files)
    all_sites = gathered["sites"]
    _read_files(collector, [tuple(item) for item in gathered["expanded"]], all_sites)
    keyed, order = _endpoints(gathered["targets"], all_sites)
    probes = [dict(probe, chain_der=[files.der(ref) for ref in probe["chain"]]) for probe in gathered["probes"]]
    collector.warnings.extend(gathered["warnings"])
    return _result(collector, all_sites, keyed, order, probes, [])


def _result(collector, all_sites, keyed, order, probes, discovery):
    """The result, from the files read, the sites and the probes of the keys in order."""
    include_pem, chain_pem = collector.include_pem, collector.chain_pem
    by_key = {k: collector.endpoint_entry(keyed[k], p) for k, p in zip(order, probes)}

    # the servers whose key-type sites were reached: a site of theirs that got its own file's certificate (one
    # that got another's was sent to another server: a wrong name, no proof of anything)
    typed_ok = {endpoint_key(dict(s["endpoint"], key_type=None)) for s in all_sites
                if (s["endpoint"] or {}).get("key_type") and by_key[endpoint_key(s["endpoint"])]["ok"]
                and by_key[endpoint_key(s["endpoint"])]["chain"][:1] == [collector.leaf_of(s["cert_file"])]}
    site_entries = []
    for site in all_sites:
        entry = dict(site, key_matches_cert=None, served_matches_disk=None, error=site.get("error"))
        cert_entry = collector.files.get(site["cert_file"])
        leaf = collector.leaf_of(site["cert_file"])
        spki = collector.key_of(site["key_file"])
        if cert_entry and cert_entry["error"] and not leaf:
            entry["error"] = cert_entry["error"]
        if leaf and spki is not None:
            entry["key_matches_cert"] = collector.key_matches(leaf, spki)
        if site["endpoint"]:
            served = by_key[endpoint_key(site["endpoint"])]
            if served["ok"] and served["chain"] and leaf:
                entry["served_matches_disk"] = served["chain"][0] == leaf
            elif not served["ok"] and entry["error"] is None:
                entry["error"] = served["error"]
                if site["endpoint"].get("key_type") and (served["error"] or {}).get("code") in _REFUSED_TYPE and \
                        endpoint_key(dict(site["endpoint"], key_type=None)) in typed_ok:
                    entry["error"] = {"code": "KEY_TYPE_NOT_SERVED", "message": (
                        "the server answers for its other key types but sends no client its %s certificate (%s): "
                        "it is loaded and never served, under the server's own protocols and ciphers" % (
                            site["endpoint"]["key_type"], served["error"]["message"]))}
        site_entries.append(entry)

    certificates = list(collector.certificates.values())
    if chain_pem and not include_pem:  # the PEM was kept for the chains only
        for facts in certificates:
            facts.pop("pem", None)
    files = list(collector.files.values())
    endpoint_entries = [by_key[k] for k in order]
    not_afters = [c["not_after"] for c in certificates]
    summary = {
        "certificates": len(certificates),
        "files": len(files),
        "endpoints": len(endpoint_entries),
        "sites": len(site_entries),
        "expired": sum(1 for c in certificates if c["expired"]),
        "earliest_not_after": min(not_afters) if not_afters else None,
        "errors": sum(1 for item in files + endpoint_entries if item["error"]),
        "sites_not_serving_disk": sum(1 for s in site_entries if s["served_matches_disk"] is False),
    }
    return {
        "certificates": certificates,
        "files": files,
        "endpoints": endpoint_entries,
        "sites": site_entries,
        "discovery": discovery,
        "summary": summary,
        "warnings": collector.warnings,
    }
