# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collector: each distinct certificate described once, and the files and endpoints that refer to it by fingerprint.

backend_cert_info (_collect) and lb_backend_info (_lbview) both build their results with it. It lives apart from
_collect so that lb_backend_info's payload carries neither _collect nor what _collect imports (_gather, the discovery
parsers of _discover): ansible-core parses every module_util a module imports to build its payload, and the host
compiles each one it imports twice (zipimport, Python 3.11), about 0.1 s of a 200-backend lb_backend_info run.
"""

from __future__ import annotations

from ansible_collections.certops.backend_tls.plugins.module_utils import _base, _material
from ansible_collections.certops.backend_tls.plugins.module_utils._base import CertError


def _certs():
    """The cryptography half of the vocabulary (every use of a Collector describes certificates), imported when first
    needed: importing this module costs no cryptography, so a module can say that it is missing."""
    from ansible_collections.certops.backend_tls.plugins.module_utils import _certs

    return _certs


class _LocalFiles:
    """Files as collect() reads them: here, with cryptography."""

    def __init__(self, max_file_bytes):
        self.max_file_bytes = max_file_bytes

    def material(self, path):
        return _certs().parse_material(_base.read_file(path, max_bytes=self.max_file_bytes))

    @staticmethod
    def realpath(path):
        return _base.real_path(path)


class _HostFiles:
    """Files as a host read them (gather()): its material for each path, read here as parse_material would."""

    def __init__(self, gathered):
        self._files = gathered["files"]
        self._ders = gathered["ders"]
        self._decoded = {}

    def der(self, ref):
        value = self._decoded.get(ref)
        if value is None:
            self._decoded[ref] = value = _material.decode(self._ders[ref])
        return value

    def material(self, path):
        wire = self._files[path]
        if wire.get("error"):
            error = CertError(wire["error"]["code"], wire["error"]["message"])
            error.file_format = wire.get("format")
            raise error
        if "raw" in wire:
            return _certs().parse_material(self.der(wire["raw"]))
        key = wire["key"]
        if key is not None:
            key = dict(key, _spki=_material.decode(key["_spki"]) if key["_spki"] is not None else None)
        return {"format": wire["format"], "ders": [self.der(ref) for ref in wire["ders"]], "key": key,
                "problems": wire["problems"]}

    def realpath(self, path):
        return self._files[path]["realpath"]


class Collector:
    def __init__(self, *, include_pem=True, chain_pem=False, max_file_bytes=_base.DEFAULT_MAX_FILE_BYTES, now=None,
                 files=None):
        self.include_pem = include_pem
        self.chain_pem = chain_pem
        self.max_file_bytes = max_file_bytes
        self.now = now or _certs().utcnow()
        self._source = files or _LocalFiles(max_file_bytes)
        self.certificates = {}  # fingerprint -> facts (public)
        self._leaf_spki = {}  # leaf fingerprint -> its public key DER (to pair keys with leaves)
        self._ca_names = {}  # CA certificate's fingerprint -> its _certs.leaf_names (few, and shared by many files)
        self.files = {}  # path -> file entry (public)
        self._file_leaf = {}  # path -> leaf fingerprint
        self._file_key = {}  # path -> public key DER of the file's private key
        self.warnings = []

    # -- certificates
    def add_der(self, der):
        """Describe a certificate once; returns (fingerprint, Certificate or None when already known).

        Certificate objects are not kept: at 10,000 certificates they would be most of the memory.
        """
        fingerprint = _base.fingerprint(der)
        if fingerprint in self.certificates:
            return fingerprint, None
        cert = _certs().load_certificate(der)
        self.certificates[fingerprint] = facts = _certs().certificate_facts(
            der, now=self.now, include_pem=self.include_pem or self.chain_pem, cert=cert)
        if facts["is_ca"]:  # the intermediates and roots many files repeat: their names kept, not loaded again
            self._ca_names[fingerprint] = (cert.subject, cert.issuer, True)
        return fingerprint, cert

    # -- files
    def _new_entry(self, path, error=None):
        # realpath: the file the path names once every symlink is followed (two sites naming one file through
        # different paths share it, and a push into one rewrites the other's: the role compares these)
        entry = {"path": path, "realpath": self._source.realpath(path), "format": None, "chain": [], "leaf": None,
                 "private_key": {"present": False, "type": None, "encrypted": False, "matches_leaf": None},
                 "error": error}
        if self.chain_pem:
            entry["chain_pem"] = []
        self.files[path] = entry
        return entry

    def add_error(self, path, error):
        """A path that could not be looked at (a directory that cannot be listed): an item with its error."""
        if path not in self.files:
            self._new_entry(path, error)
        return self.files[path]

    def add_file(self, path):
        if path in self.files:
            return self.files[path]
        entry = self._new_entry(path)
        try:
            material = self._source.material(path)
        except CertError as exc:
            entry["format"] = exc.file_format
            entry["error"] = exc.as_dict()
            return entry
        entry["format"] = material["format"]
        problems = list(material["problems"])
        parsed, names = [], []  # (der, Certificate or None when described before); each one's leaf_names
        for index, der in enumerate(material["ders"], start=1):
            try:
                fingerprint, cert = self.add_der(der)
            except CertError as exc:
                problems.append("certificate %d: %s" % (index, exc.message))
                continue
            entry["chain"].append(fingerprint)
            known = None if cert else self._ca_names.get(fingerprint)
            if cert is None and known is None:  # a leaf another file holds too
                cert = _certs().load_certificate(der)
            parsed.append((der, cert))
            names.append(known or (cert.subject, cert.issuer, self.certificates[fingerprint]["is_ca"]))
        if entry["chain"]:
            leaf_index = _certs().leaf_index(names)
            entry["leaf"] = entry["chain"][leaf_index]
            self._file_leaf[path] = entry["leaf"]
            if entry["leaf"] not in self._leaf_spki:
                leaf_der, leaf = parsed[leaf_index]
                self._leaf_spki[entry["leaf"]] = _certs().leaf_spki(leaf or _certs().load_certificate(leaf_der))
            if self.chain_pem:
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
        if target.get("client_cert"):
            entry.update(client_cert=target["client_cert"], client_key=target["client_key"])
        if target.get("proxy_protocol"):
            entry["proxy_protocol"] = target["proxy_protocol"]
        if target.get("key_type"):
            entry["key_type"] = target["key_type"]
        for der in probe["chain_der"]:
            try:
                entry["chain"].append(self.add_der(der)[0])
            except CertError as exc:
                entry["error"] = {"code": "TLS_HANDSHAKE_FAILED", "message": "served %s" % exc.message}
        if self.chain_pem:
            entry["chain_pem"] = [self.certificates[fp]["pem"] for fp in entry["chain"]]
        if entry["chain"]:
            served = entry["chain"][0]
            entry["matches_files"] = [path for path, leaf in self._file_leaf.items() if leaf == served]
        return entry
