# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What backend_cert_info does, without Ansible: files + endpoints + sites -> one result dict.

Each distinct certificate is parsed once and described once (`certificates`); files, endpoints
and sites refer to it by SHA-256 fingerprint. A bad file or endpoint becomes an item with an
`error`, never an exception.
"""

from __future__ import annotations

import glob
import hashlib
import os

from ansible_collections.certops.backend_tls.plugins.module_utils import _certs, _discover, _probe
from ansible_collections.certops.backend_tls.plugins.module_utils._certs import CertError

_GLOB_CHARS = ("*", "?", "[")


def expand_paths(paths):
    """Files, directories (walked recursively, sorted) and globs -> unique file paths in order."""
    seen, out = set(), []

    def add(path):
        if path not in seen:
            seen.add(path)
            out.append(path)

    for entry in paths:
        if any(ch in entry for ch in _GLOB_CHARS):
            for match in sorted(glob.glob(entry, recursive=True)):
                if os.path.isdir(match):
                    for found in _walk(match):
                        add(found)
                else:
                    add(match)
        elif os.path.isdir(entry):
            for found in _walk(entry):
                add(found)
        else:
            add(entry)
    return out


def _walk(top):
    for root, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            yield os.path.join(root, name)


def parse_endpoint(spec):
    """'host:port', '[v6]:port', 'host' or {host, port, server_name} -> {host, port, server_name}."""
    if isinstance(spec, dict):
        host = spec.get("host")
        port = spec.get("port", 443) or 443
        server_name = spec.get("server_name")
    elif isinstance(spec, str):
        text = spec.strip()
        if text.startswith("["):
            host, _sep, port = text[1:].partition("]")
            port = port.lstrip(":") or 443
        elif text.count(":") == 1:
            host, _sep, port = text.partition(":")
        else:
            host, port = text, 443
        server_name = None
    else:
        raise CertError("INVALID_ARGUMENT", "endpoint %r is neither 'host:port' nor a dict" % (spec,))
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise CertError("INVALID_ARGUMENT", "endpoint %r: port %r is not a number" % (spec, port))
    if not host or not 0 < port < 65536:
        raise CertError("INVALID_ARGUMENT", "endpoint %r needs a host and a port between 1 and 65535" % (spec,))
    return {"host": host, "port": port, "server_name": server_name or _probe.default_server_name(host)}


def declared_site(spec):
    """A role-style site dict -> the site shape that discovery returns."""
    endpoint = parse_endpoint(spec["endpoint"]) if spec.get("endpoint") else None
    names = list(spec.get("server_names") or [])
    if endpoint and not endpoint["server_name"] and names:
        endpoint["server_name"] = names[0]
    return {
        "name": spec["name"],
        "server_type": spec.get("server_type"),
        "config_file": None,
        "server_names": names,
        "listen": ["%s:%d" % (endpoint["host"], endpoint["port"])] if endpoint else [],
        "cert_file": spec["cert_path"],
        "key_file": spec.get("key_path") or spec["cert_path"],
        "chain_file": spec.get("chain_path"),
        "endpoint": endpoint,
    }


class Collector:
    def __init__(self, *, include_pem=True, max_file_bytes=_certs.DEFAULT_MAX_FILE_BYTES, now=None):
        self.include_pem = include_pem
        self.max_file_bytes = max_file_bytes
        self.now = now or _certs.utcnow()
        self.certificates = {}  # fingerprint -> facts (public)
        self._leaf_spki = {}  # leaf fingerprint -> its public key DER (to pair keys with leaves)
        self.files = {}  # path -> file entry (public)
        self._file_leaf = {}  # path -> leaf fingerprint
        self._file_key = {}  # path -> public key DER of the file's private key
        self.warnings = []

    # -- certificates
    def add_der(self, der):
        """Describe a certificate once; returns (fingerprint, Certificate or None when already known).

        Certificate objects are not kept: at 10,000 certificates they would be most of the memory.
        """
        fingerprint = hashlib.sha256(der).hexdigest()
        if fingerprint in self.certificates:
            return fingerprint, None
        cert = _certs.load_certificate(der)
        self.certificates[fingerprint] = _certs.certificate_facts(
            der, now=self.now, include_pem=self.include_pem, cert=cert)
        return fingerprint, cert

    # -- files
    def add_file(self, path):
        if path in self.files:
            return self.files[path]
        entry = {"path": path, "format": None, "chain": [], "leaf": None,
                 "private_key": {"present": False, "type": None, "encrypted": False, "matches_leaf": None},
                 "error": None}
        if self.include_pem:
            entry["chain_pem"] = []
        self.files[path] = entry
        try:
            material = _certs.parse_material(_certs.read_file(path, max_bytes=self.max_file_bytes))
        except CertError as exc:
            entry["error"] = exc.as_dict()
            return entry
        entry["format"] = material["format"]
        problems = list(material["problems"])
        parsed = []
        for index, der in enumerate(material["ders"], start=1):
            try:
                fingerprint, cert = self.add_der(der)
            except CertError as exc:
                problems.append("certificate %d: %s" % (index, exc.message))
                continue
            entry["chain"].append(fingerprint)
            parsed.append((der, cert or _certs.load_certificate(der)))
        if entry["chain"]:
            leaf_index = _certs.pick_leaf(parsed)
            entry["leaf"] = entry["chain"][leaf_index]
            self._file_leaf[path] = entry["leaf"]
            if entry["leaf"] not in self._leaf_spki:
                self._leaf_spki[entry["leaf"]] = _certs.leaf_spki(parsed[leaf_index][1])
            if self.include_pem:
                entry["chain_pem"] = [self.certificates[fp]["pem"] for fp in entry["chain"]]
        key = material["key"]
        if key is not None:
            entry["private_key"].update(present=True, type=key["type"], encrypted=key["encrypted"])
            if key.get("error"):
                problems.append(key["error"]["message"])
            if key["_spki"] is not None:
                self._file_key[path] = key["_spki"]
                if entry["leaf"]:
                    entry["private_key"]["matches_leaf"] = self.key_matches(entry["leaf"], key["_spki"])
        if problems:
            entry["error"] = {"code": "NOT_A_CERTIFICATE", "message": "; ".join(problems)}
        return entry

    def key_matches(self, fingerprint, spki):
        return self._leaf_spki.get(fingerprint) == spki

    def leaf_of(self, path):
        return self._file_leaf.get(path)

    def key_of(self, path):
        return self._file_key.get(path)

    # -- endpoints
    def endpoint_entry(self, target, probe):
        entry = {"host": target["host"], "port": target["port"], "server_name": target["server_name"],
                 "ok": probe["ok"], "error": probe["error"], "tls_version": probe["tls_version"],
                 "cipher": probe["cipher"], "chain": [], "handshake_ms": probe["handshake_ms"],
                 "elapsed_ms": probe["elapsed_ms"], "matches_files": []}
        for der in probe["chain_der"]:
            try:
                entry["chain"].append(self.add_der(der)[0])
            except CertError as exc:
                entry["error"] = {"code": "TLS_HANDSHAKE_FAILED", "message": "served %s" % exc.message}
        if self.include_pem:
            entry["chain_pem"] = [self.certificates[fp]["pem"] for fp in entry["chain"]]
        if entry["chain"]:
            served = entry["chain"][0]
            entry["matches_files"] = [path for path, leaf in self._file_leaf.items() if leaf == served]
        return entry


def _discover_all(specs, run_command):
    """Discovery specs -> (sites, discovery report)."""
    sites, report = [], []
    for spec in specs:
        server_type, config = spec["type"], spec.get("config") or _discover.default_config(spec["type"])
        status = {"server_type": server_type, "config_file": config, "sites": 0, "error": None}
        try:
            source = None
            if server_type == "nginx" and run_command is not None:
                dump = run_command(server_type, config, spec.get("binary"))
                if dump:
                    source = _discover.FileSource(_discover.split_nginx_dump(dump))
                    if config not in source.files:
                        source = None
            found = _discover.discover(server_type, config, source)
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


def collect(*, paths=(), endpoints=(), discover=(), sites=(), timeout=5.0, concurrency=16,
            include_pem=True, max_file_bytes=_certs.DEFAULT_MAX_FILE_BYTES, run_command=None, now=None):
    """The whole backend_cert_info result (without `changed`), plus 'warnings'."""
    collector = Collector(include_pem=include_pem, max_file_bytes=max_file_bytes, now=now)
    targets = [parse_endpoint(spec) for spec in endpoints]
    all_sites = [dict(declared_site(spec), origin="declared") for spec in sites]
    found, discovery = _discover_all(discover, run_command)
    all_sites.extend(dict(site, origin="discovered") for site in found)

    for path in expand_paths(paths):
        collector.add_file(path)
    for site in all_sites:
        for key in ("cert_file", "key_file", "chain_file"):
            if site[key]:
                collector.add_file(site[key])
        leaf = collector.leaf_of(site["cert_file"])
        if site["origin"] == "discovered" and site["server_type"] == "haproxy" and not site["server_names"] and leaf:
            # HAProxy picks the certificate by SNI from its names: the cert's own names are the site's.
            facts = collector.certificates[leaf]
            names = facts["sans"]["dns"] or ([facts["subject_cn"]] if facts["subject_cn"] else [])
            if names:
                site.update(_discover.make_site("haproxy", site["config_file"], names, site["listen"],
                                                site["cert_file"], site["key_file"], None))
    _unique_names(all_sites)

    keyed = {}
    for target in targets + [s["endpoint"] for s in all_sites if s["endpoint"]]:
        keyed.setdefault((target["host"], target["port"], target["server_name"]), target)
    order = list(keyed)
    probes = _probe.probe_many([keyed[k] for k in order], timeout=timeout, concurrency=concurrency)
    if probes and _probe.chain_method() == "leaf":
        collector.warnings.append("no way to read the served chain on this host (Python < 3.10 and no "
                                  "openssl binary): endpoints report the leaf only")
    by_key = {k: collector.endpoint_entry(keyed[k], p) for k, p in zip(order, probes)}

    site_entries = []
    for site in all_sites:
        entry = dict(site, key_matches_cert=None, served_matches_disk=None, error=None)
        cert_entry = collector.files.get(site["cert_file"])
        leaf = collector.leaf_of(site["cert_file"])
        spki = collector.key_of(site["key_file"])
        if cert_entry and cert_entry["error"] and not leaf:
            entry["error"] = cert_entry["error"]
        if leaf and spki is not None:
            entry["key_matches_cert"] = collector.key_matches(leaf, spki)
        if site["endpoint"]:
            served = by_key[(site["endpoint"]["host"], site["endpoint"]["port"], site["endpoint"]["server_name"])]
            if served["ok"] and served["chain"] and leaf:
                entry["served_matches_disk"] = served["chain"][0] == leaf
            elif not served["ok"] and entry["error"] is None:
                entry["error"] = served["error"]
        site_entries.append(entry)

    certificates = list(collector.certificates.values())
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
