# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judge a served chain the way a load balancer does, and say exactly why it fails.

The verdict on the path comes from `cryptography.x509.verification` (RFC 5280 / WebPKI path
building and validation): nothing here validates a path by hand. Around it, a diagnosis names
the problem (finding codes in DESIGN.md), the certificate it concerns and what to do. A few
strict RFC 5280 rules that the verifier does not enforce are added where measuring them on the
x509-limbo conformance suite showed they make verdicts more correct (tests/unit/limbo).

Needs cryptography >= 42 (checked by _deps before this is used).
"""

from __future__ import annotations

import datetime
import glob
import itertools
import os
import re
import ssl
import warnings
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.certops.backend_tls.plugins.module_utils import _base, _certs, _material, _names, _openssl
from ansible_collections.certops.backend_tls.plugins.module_utils._certs import CertError

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
    from cryptography.x509 import verification
    from cryptography.x509.oid import ExtendedKeyUsageOID
except ImportError:  # reported by _deps.cryptography_problem()
    pass

ERROR, WARNING, INFO = "error", "warning", "info"
PROFILES = ("openssl", "webpki")
# Under the openssl profile these stay what they are whatever OpenSSL says: they are the user's policy, not
# a rule of the verifier.
_POLICY_CODES = ("KEY_MISMATCH", "EXPIRES_SOON")
# Revocation is checked here, under both profiles, with the load balancer's CRLs (check_revocation): OpenSSL is not
# given them, so under profile openssl these findings stand beside its verdict, as the load balancer's own checks.
REVOCATION_CODES = ("REVOKED", "CRL_MISSING", "CRL_EXPIRED", "CRL_INVALID")
CRL_CHECKS = ("none", "leaf", "chain")
_OPENSSL_HINTS = {
    2: "the CA file holds an intermediate but not its root; OpenSSL (so the load balancer) needs the root",
    20: "the issuer is neither served nor in the load balancer's CA file",
    66: "the key is below OpenSSL's security level %d (RSA and DH need 2048 bits)" % _openssl.SECURITY_LEVEL,
    67: "the key is below OpenSSL's security level %d (RSA and DH need 2048 bits)" % _openssl.SECURITY_LEVEL,
    68: "SHA-1 and weaker signatures are below OpenSSL's security level %d" % _openssl.SECURITY_LEVEL,
}
_WEAK_HASHES = ("md5", "sha1")
# The extended key usages OpenSSL's TLS server purpose takes from a CA certificate (XKU_SSL_SERVER | XKU_SGC):
# serverAuth, Netscape's and Microsoft's Server Gated Crypto.
_SERVER_PURPOSES = ("1.3.6.1.5.5.7.3.1", "2.16.840.1.113730.4.1", "1.3.6.1.4.1.311.10.3.3")
_RELATIVE = re.compile(r"^([+-])(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX_PEM_BYTES = 16 * 1024 * 1024  # CA bundles are larger than certificate files

# Strict rules beyond the verifier, each measured on x509-limbo (see tests/unit/limbo/README.md).
STRICT_RULES = ("serial_positive", "ca_has_ski", "issued_has_aki", "anchor_aki_consistent", "rsa_modulus_bytes",
                "cn_spelling")


def parse_time(value, *, now=None):
    """'+30d', '-2h', ISO 8601 ('2026-01-01', '...T12:00:00Z', offsets) -> aware UTC datetime."""
    now = now or _certs.utcnow()
    if value in (None, "", "now"):
        return now
    text = str(value).strip()
    try:
        match = _RELATIVE.match(text)
        if match:
            seconds = int(match.group(2)) * _UNITS[match.group(3)]
            return now + datetime.timedelta(seconds=seconds if match.group(1) == "+" else -seconds)
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.timezone.utc)
        return parsed.astimezone(datetime.timezone.utc)
    except (ValueError, OverflowError):  # not a date, or one outside datetime's years 1..9999
        raise CertError("INVALID_ARGUMENT", "at: %r is not a time between the years 1 and 9999 written as ISO 8601 "
                        "('2026-12-01', '2026-12-01T10:00:00Z') or relative to now ('+30d', '-2h', '+1w'; units s, "
                        "m, h, d, w)" % (value,))


def _certificate_pems(text, *, what):
    """Each complete PEM CERTIFICATE block in text (str or bytes), as PEM bytes, in one linear pass."""
    if not isinstance(text, (str, bytes)):
        raise CertError("INVALID_ARGUMENT", "%s must be PEM text or a list of PEM texts, not %s" % (
            what, type(text).__name__))
    return _base.certificate_pems(text)


_PARSED_LIMIT = 4096  # certificates a batch keeps parsed (its intermediates and roots, which chains share)


def split_pem_certificates(text, *, what, parsed=None):
    """PEM text (one or many blocks) -> [(der, Certificate)]; CertError PARSE_ERROR when none/bad.

    parsed: a dict shared by the chains of one batch, PEM block -> (der, Certificate), so that an intermediate
    every chain carries is parsed once (and the checks' cached views of it are built once)."""
    blocks = _certificate_pems(text or "", what=what)
    if not blocks:
        raise CertError("PARSE_ERROR", "%s holds no PEM certificate" % what)
    out = []
    for index, block in enumerate(blocks, start=1):
        known = parsed.get(block) if parsed is not None else None
        if known is None:
            try:
                cert = _certs.load_pem_certificate(block)
            except CertError as exc:
                raise CertError("PARSE_ERROR", "%s: certificate %d cannot be parsed: %s" % (what, index, exc.message))
            known = (_certs.der_of(cert), cert)
            if parsed is not None and len(parsed) < _PARSED_LIMIT:
                parsed[block] = known
        out.append(known)
    return out


def load_pem_list(items, *, what, parsed=None):
    """A PEM text or a list of PEM texts -> [(der, Certificate)] in order."""
    if isinstance(items, (list, tuple)):
        out = []
        for index, item in enumerate(items, start=1):
            out.extend(split_pem_certificates(item, what="%s[%d]" % (what, index), parsed=parsed))
        return out
    return split_pem_certificates(items, what=what, parsed=parsed)


def read_text(path, *, what):
    """A PEM file's text; CertError NOT_FOUND / PERMISSION_DENIED / TOO_LARGE naming what it was for."""
    try:
        return _base.read_file(path, max_bytes=_MAX_PEM_BYTES).decode("ascii", "replace")
    except CertError as exc:
        raise CertError(exc.code, "%s %s: %s" % (what, path, exc.message))


def load_anchors(*, ca_path=None, ca_content=None, refused=None):
    """Trust anchors from a file, a directory (every PEM file in it), PEM content, or the system store.

    refused: a list that gets the PEM blocks cryptography cannot load (a name with a PrintableString holding "&" or
    "_", which X.680 forbids but real CA certificates carry and OpenSSL reads), for the openssl profile's CA file.
    """
    texts = []
    if ca_content:
        texts.append(("ca_content", ca_content))
    if ca_path:
        if os.path.isdir(ca_path):
            for path in sorted(glob.glob(os.path.join(ca_path, "*"))):
                if os.path.isfile(path):
                    texts.append((path, read_text(path, what="CA file")))
        else:
            texts.append((ca_path, read_text(ca_path, what="ca_path")))
    if not texts:
        paths = ssl.get_default_verify_paths()
        for candidate in (paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt",
                          "/etc/pki/tls/certs/ca-bundle.crt"):
            if candidate and os.path.isfile(candidate):
                texts.append((candidate, read_text(candidate, what="system CA bundle")))
                break
    anchors, seen = [], set()
    for origin, text in texts:
        for block in _certificate_pems(text, what=origin) + _trusted_pems(text):
            try:
                cert = _certs.load_pem_certificate(block)
            except CertError:
                if refused is not None and block not in refused:
                    refused.append(block)
                continue  # a directory may hold other PEM files; skip what is not a certificate
            fingerprint = _fp(_certs.der_of(cert))
            if fingerprint not in seen:
                seen.add(fingerprint)
                anchors.append(cert)
    if not anchors:
        raise CertError("INVALID_ARGUMENT", "no trust anchors found in %s" % (
            ", ".join(o for o, _t in texts) or "the system store"))
    return anchors


def load_crl_set(*, crl_path=None, crl_content=None):
    """[(der, CertificateRevocationList)] from a CRL file (PEM or DER) and/or PEM content; [] when neither is given.
    CertError INVALID_ARGUMENT when what is given holds no CRL or a damaged one (the load balancer would not start
    with it)."""
    crls = []
    sources = [("crl_content", crl_content)] if crl_content else []
    if crl_path:
        try:
            sources.append((crl_path, _base.read_file(crl_path, max_bytes=_MAX_PEM_BYTES)))
        except CertError as exc:
            raise CertError(exc.code, "crl_path %s: %s" % (crl_path, exc.message))
    for origin, data in sources:
        try:
            crls.extend(_certs.load_crls(data))
        except CertError as exc:
            raise CertError("INVALID_ARGUMENT", "%s: %s" % (origin, exc.message))
    return crls


def _trusted_pems(text):
    """The certificates of a CA file's OpenSSL "TRUSTED CERTIFICATE" blocks (RHEL's ca-bundle.trust.crt) that OpenSSL
    trusts for a TLS server, as PEM CERTIFICATE blocks: the trust settings that refuse serverAuth leave one out."""
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    return [_certs.der_to_pem(der).encode("ascii") for der, trust in _material.trusted_blocks(data)
            if trust is not False]


_ext = _certs._ext


def _ext_checked(cert, cls):
    """(value, None), (None, None) when absent, or (None, why) when present but malformed."""
    try:
        return cert.extensions.get_extension_for_class(cls).value, None
    except x509.ExtensionNotFound:
        return None, None
    except _certs.EXTENSION_ERRORS as exc:
        return None, str(exc)


_fp = _certs.fingerprint


def _subject(cert):
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return "<unparsable subject>"


_validity = _certs._validity


def _is_ca(cert):
    basic = _ext(cert, x509.BasicConstraints)
    return bool(basic and basic.ca)


def _self_issued(cert):
    return cert.subject == cert.issuer


def _issued_by(child, parent):
    """Whether parent, by the very name child names as its issuer, signed child (diagnosis only: the verdict is the
    verifier's)."""
    return child.issuer == parent.subject and _signed_by(child, parent)


def _signed_by(child, parent):
    """Whether parent's key made child's signature, whatever the names say.

    verify_directly_issued_by() refuses legacy algorithms such as SHA-1 (and names that differ); those signatures
    are checked directly so that a SHA-1 chain is reported as WEAK_SIGNATURE, not as incomplete.
    """
    # A certificate read leniently (_certs.load_certificate) is cryptography's copy: its own to-be-signed bytes,
    # which its issuer signed, are checked by hand.
    if not _certs.printable_violations(child):
        try:
            child.verify_directly_issued_by(parent)
            return True
        except InvalidSignature:
            return False
        except (ValueError, TypeError, UnsupportedAlgorithm):
            pass
    try:
        return _signed_with(parent.public_key(), child.signature, _certs.tbs_of(child), child.signature_hash_algorithm,
                            child.signature_algorithm_parameters)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False


_sans = _certs.subject_alt_names


def name_matches(name, dns_sans, ip_sans):
    """RFC 6125 matching: IPs against IP SANs; DNS names case-insensitively, '*' as a whole left-most label."""
    address = _base.ip_address(name)
    if address is not None:
        return any(address == ip for ip in ip_sans)
    wanted = name.lower().rstrip(".")
    for san in dns_sans:
        pattern = san.lower().rstrip(".")
        if pattern == wanted:
            return True
        if pattern.startswith("*.") and "." in wanted:
            head, tail = wanted.split(".", 1)
            if head and tail == pattern[2:] and "*" not in tail:
                return True
    return False


_OID_NAMES = {
    "2.5.29.14": "subjectKeyIdentifier", "2.5.29.15": "keyUsage", "2.5.29.17": "subjectAltName",
    "2.5.29.19": "basicConstraints", "2.5.29.30": "nameConstraints", "2.5.29.31": "cRLDistributionPoints",
    "2.5.29.32": "certificatePolicies", "2.5.29.35": "authorityKeyIdentifier", "2.5.29.36": "policyConstraints",
    "2.5.29.37": "extendedKeyUsage", "2.5.29.54": "inhibitAnyPolicy", "1.3.6.1.5.5.7.1.1": "authorityInfoAccess",
}
_SYSTEM_ROOTS = []  # [(subject, Certificate)] of this host's trust store, read once per process when needed


def _oid_names(text):
    """Dotted extension OIDs in a message followed by their names: '2.5.29.15' -> '2.5.29.15 (keyUsage)'."""
    def named(match):
        oid = match.group(1)
        return "%s (%s)" % (oid, _OID_NAMES[oid]) if oid in _OID_NAMES else oid

    return re.sub(r"\b(\d+(?:\.\d+){2,})\b", named, text)


def _has_extension(cert, oid):
    try:
        cert.extensions.get_extension_for_oid(oid)
        return True
    except x509.ExtensionNotFound:
        return False
    except _certs.EXTENSION_ERRORS:
        return True  # present but malformed: not "missing"


def _system_root_for(cert, key_id):
    """The self-signed root of this host's system trust store that issued cert (by name and key id), or None."""
    if not _SYSTEM_ROOTS:
        try:
            with warnings.catch_warnings():  # some system roots have a zero serial: cryptography warns
                warnings.simplefilter("ignore")
                anchors = load_anchors()
        except CertError:
            anchors = []
        _SYSTEM_ROOTS.extend((a.subject, a) for a in anchors)
        if not _SYSTEM_ROOTS:
            _SYSTEM_ROOTS.append((None, None))
    for subject, root in _SYSTEM_ROOTS:
        if root is None or subject != cert.issuer:
            continue
        ski = _ext(root, x509.SubjectKeyIdentifier)
        if key_id is None or ski is None or ski.digest == key_id:
            return root
    return None


def _common_names(cert):
    try:
        return [a.value for a in cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
                if isinstance(a.value, str)]
    except ValueError:
        return []


def _subject_for(name):
    address = _base.ip_address(name)
    return verification.DNSName(name) if address is None else verification.IPAddress(address)


class _Findings(list):
    """One check's findings, in order, as (code, severity, message, certificate)."""

    def add(self, code, severity, message, cert=None):
        self.append((code, severity, message, cert))


class Verifier:
    """Trust store, policy and per-name verifiers built once, used for any number of chains."""

    def __init__(self, anchors, *, at=None, min_days_remaining=0, min_rsa_bits=2048, strict=STRICT_RULES,
                 max_chain_depth=None, openssl=None, crls=()):
        # Whole seconds, as X.509 times and the verifier have them (notAfter is inclusive).
        self.at = (at or _certs.utcnow()).replace(microsecond=0)
        # profile openssl: an _openssl.OpenSSLVerifier whose verdict decides (see _apply_openssl)
        self.openssl = openssl
        self._tags = itertools.count()
        self.anchors = list(anchors)
        self.anchor_set = set(self.anchors)  # Certificate objects hash and compare by their DER
        self.crls = list(crls)  # [(der, CertificateRevocationList)]: the load balancer's, for check_revocation
        self._crl_signatures, self._crl_serials, self._crl_critical, self._crl_issuers = {}, {}, {}, {}
        self.min_days_remaining = min_days_remaining
        self.min_rsa_bits = min_rsa_bits
        self.strict = set(strict)
        builder = verification.PolicyBuilder().store(verification.Store(self.anchors))
        builder = builder.time(self.at.astimezone(datetime.timezone.utc).replace(tzinfo=None))
        if max_chain_depth is not None:
            builder = builder.max_chain_depth(max_chain_depth)
        self._builder = builder
        self._verifiers = {}
        self._described = {}
        self._canonical_names = {}  # Name -> OpenSSL's canonical form (_canonical: issuers and CRL issuers)

    def _server_verifier(self, name):
        if name not in self._verifiers:
            self._verifiers[name] = self._builder.build_server_verifier(_subject_for(name))
        return self._verifiers[name]

    # ------------------------------------------------------------ one chain
    def verify(self, chain, *, server_names=(), intermediates=(), key_spki=None, key_problem=None, checks=None):
        """chain: [(der, Certificate)] as served, leaf first. Returns the single-form result dict.

        checks: how the load balancer checks, where it differs from a full check (see check_options): its name
        rule, its verify depth, and whether it verifies the chain (and the leaf's dates) at all.
        Each check looks at the chain on its own and returns its findings; _reconcile is the one step where
        findings depend on one another.
        """
        checks = checks or DEFAULT_CHECKS
        served = list(chain)
        leaf_index = None
        if served:  # a first certificate that is no CA is the leaf; otherwise look for it
            leaf_index = 0 if not _is_ca(served[0][1]) else _certs.pick_leaf(served)
        leaf_der, leaf = served[leaf_index] if served else (None, None)
        if leaf is None:
            return self._result([self._finding(("PARSE_ERROR", ERROR, "no certificate to verify", None), None)],
                                [], None, None)
        dns_sans, ip_sans = _sans(leaf)
        names = self._normalized(server_names, checks["name_rule"])
        # A load balancer's own name rule compares the name as configured (a trailing dot, case, a U-label, spaces
        # included: all three load balancers refuse "a.test." for a SAN "a.test", and nginx "a.test " quoted in
        # proxy_ssl_name), so the rule gets it as given.
        as_given = list(server_names) if checks["name_rule"] else names
        found = self._check_order(leaf_index, leaf)
        found += self._check_served(served, leaf_der)
        found += self._check_extensions(served, intermediates)
        found += self._check_names(leaf, names, dns_sans, ip_sans)
        found += self._check_identity(leaf, key_spki, key_problem, served[0][1], leaf_index)

        # The verdict: cryptography's path building and validation.
        verified, verifier_error = self._validate(leaf, served, leaf_index, intermediates, names, dns_sans, ip_sans)
        walk = []
        if verified is None:  # the walk only explains failures; valid chains skip it
            walk, end = self._walk(leaf, served, intermediates)
            found += self._explain_walk(walk, end, [c for _d, c in served] + [c for _d, c in intermediates])
            path = walk if end == "anchored" else []
        else:
            path = verified
        found += self._check_printable(served, intermediates, path)
        # OpenSSL (without partial chains) builds on through the trust anchors to a self-signed root, where
        # cryptography's path ends at the first anchor (an intermediate, when the CA file holds intermediate and
        # root): the load balancer checks that whole chain, so the dates, keys, signatures, purposes, depth, CRLs
        # and days remaining below are all taken over it, under both profiles (webpki is never more lenient than
        # OpenSSL there).
        pool = [c for _d, c in served] + [c for _d, c in intermediates]
        built = self._openssl_chain(path, pool)
        if not built and self.openssl is not None:
            # No path by cryptography's rules (names compared byte for byte), but OpenSSL compares names as
            # X509_NAME_cmp does (case and blanks do not count): under profile openssl its chain is the one to
            # describe, or a chain OpenSSL accepts would have no days remaining and no verified_chain.
            built = self._openssl_chain([leaf], pool, anchored_only=False)
        found += self._check_path(built, leaf)
        found += self._check_ca_purpose(built)
        found += self._check_depth(built, checks["verify_depth"])
        if checks["check_chain"]:  # a load balancer that does not verify the chain reads no CRL either
            found += self._check_revocation(built, checks)
        found += self._check_strict(path or walk, leaf)
        if verified is not None:
            found += self._check_unneeded(served, path, leaf_index)
        # A load balancer that does not verify the chain only cares (if at all) about the leaf's own dates; one that
        # does refuses the chain as soon as any certificate of the chain it builds expires, the root included.
        days = self._days_remaining(built) if checks["check_chain"] else self._days_remaining([leaf])
        if not (checks["check_chain"] or checks["check_expiry"]):
            days_policy = None
        else:
            days_policy = days
        findings = self._reconcile(found, leaf, days_policy, verifier_error, walk or path or [leaf])
        if not checks["check_chain"]:  # no chain verdict to take from OpenSSL: only names and the leaf count
            if self.openssl is not None or checks["name_rule"]:
                findings = self._apply_name_rule(findings, served[0], names, as_given, checks["name_rule"])
            findings = [self._unchecked(f, checks["check_expiry"], bool(names)) for f in findings]
        elif self.openssl is not None:
            findings = self._apply_openssl(findings, served, intermediates, names, as_given, checks)
        elif checks["name_rule"]:
            findings = self._apply_name_rule(findings, served[0], names, as_given, checks["name_rule"])
        return self._result(findings, built, leaf, days)

    # ------------------------------------------------------------ checks: each returns its own findings
    def _check_order(self, leaf_index, leaf):
        found = _Findings()
        if leaf_index != 0:
            found.add("WRONG_ORDER", ERROR, "the leaf is certificate %d of the served chain; servers must send it "
                      "first (the load balancer takes the first certificate as the server's)" % (leaf_index + 1),
                      leaf)
        return found

    def _check_extensions(self, served, intermediates):
        found = _Findings()
        for _d, cert in served + list(intermediates):
            problem = _certs.extensions_problem(cert)
            if problem:
                found.add("PARSE_ERROR", ERROR, "the certificate's extensions cannot be parsed: %s" % problem, cert)
        return found

    def _check_printable(self, served, intermediates, path):
        """Names with a PrintableString outside that type's characters: strict clients cannot read the certificate,
        OpenSSL (and so HAProxy, nginx and Apache) reads it. A served one is PARSE_ERROR, as for extensions only
        OpenSSL reads; a trust anchor is UNTRUSTED_ROOT (a strict client cannot load it from the CA file). Under
        profile openssl both are warnings unless OpenSSL itself refuses for that reason."""
        found, seen = _Findings(), set()
        given = [c for _d, c in served + list(intermediates)]
        for cert in given + [c for c in path if c in self.anchor_set and c not in given]:
            values = _certs.printable_violations(cert) if cert not in seen else None
            seen.add(cert)
            if not values:
                continue
            why = "holds a PrintableString with characters outside that type (%s; RFC 5280 appendix B)" % (
                ", ".join(repr(v) for v in values))
            if cert in given:
                found.add("PARSE_ERROR", ERROR, "a name of %s %s: OpenSSL reads the certificate, strict clients "
                          "cannot" % (_subject(cert), why), cert)
            else:
                found.add("UNTRUSTED_ROOT", ERROR, "the trust anchor %s %s: OpenSSL reads it, strict clients cannot "
                          "load it from the CA file" % (_subject(cert), why), cert)
        return found

    @staticmethod
    def _normalized(server_names, rule):
        """Each name as WebPKI matching takes it (_names.normalize), whose refusal (CertError) is the item's
        error; under a load balancer's name rule, which compares the name as configured, a name it refuses is None
        instead: no WebPKI client can check it, and the rule alone decides it (HAProxy's `verifyhost *.test`, or
        `a*.example.test`, is text to HAProxy, matched exactly or by the certificate's own wildcard)."""
        names = []
        for name in server_names:
            try:
                names.append(_names.normalize(name))
            except CertError:
                # a leading dot is OpenSSL's "any name under" (X509_check_host), which only the openssl rule (nginx's
                # proxy_ssl_name) models
                if rule is None or not isinstance(name, str) or not name.strip() or (
                        name.strip().startswith(".") and rule != "openssl"):
                    raise
                names.append(None)
        return names

    def _check_names(self, leaf, names, dns_sans, ip_sans):
        found = _Findings()
        if not dns_sans and not ip_sans:
            found.add("NO_SAN", ERROR, "the leaf has no subjectAltName; clients ignore the CN, so it matches no "
                      "name", leaf)
        for name in names:
            if name is None:  # no WebPKI name: the load balancer's rule decides it (_names_by_rule)
                continue
            if (dns_sans or ip_sans) and not name_matches(name, dns_sans, ip_sans):
                found.add("HOSTNAME_MISMATCH", ERROR, "%s is not covered by the leaf's names (DNS: %s; IP: %s)" % (
                    name, ", ".join(dns_sans) or "none", ", ".join(str(i) for i in ip_sans) or "none"), leaf)
        return found

    def _check_identity(self, leaf, key_spki, key_problem, first, leaf_index):
        """Self-signed leaf, key pairing (a server pairs its key with the first certificate of the file), extended key
        usage."""
        found = _Findings()
        if _self_issued(leaf) and _issued_by(leaf, leaf) and leaf not in self.anchor_set:
            found.add("SELF_SIGNED", ERROR, "the leaf is self-signed; issue it from a CA the load balancer trusts",
                      leaf)
        if key_problem:
            found.add("KEY_MISMATCH", ERROR, key_problem, leaf)
        elif key_spki is not None:
            leaf_key = _certs.leaf_spki(leaf)
            if leaf_key is None:
                found.add("KEY_MISMATCH", ERROR, "the leaf's public key cannot be read, so the private key cannot "
                          "be paired with it", leaf)
            elif leaf_key != key_spki:
                found.add("KEY_MISMATCH", ERROR, "the private key does not belong to the leaf certificate", leaf)
            elif leaf_index != 0 and _certs.leaf_spki(first) != key_spki:
                found.add("KEY_MISMATCH", ERROR, "the private key belongs to the leaf, certificate %d of the chain, "
                          "but a server pairs it with the first certificate and refuses to load them; put the leaf "
                          "first" % (leaf_index + 1), first)
        eku = _ext(leaf, x509.ExtendedKeyUsage)
        # anyExtendedKeyUsage alone does not do: OpenSSL's TLS server purpose and the WebPKI both want serverAuth
        if eku is not None and ExtendedKeyUsageOID.SERVER_AUTH not in eku:
            found.add("NOT_SERVER_AUTH", ERROR, "the leaf's extended key usage does not include serverAuth", leaf)
        # A key usage that allows none of the TLS server's uses of its key (signing the handshake, or RSA key
        # transport, or key agreement) is refused by OpenSSL's TLS server purpose (check_purpose_ssl_server's
        # ku_reject with KU_TLS: "unsuitable certificate purpose", 26), whatever else it allows.
        usage = _ext(leaf, x509.KeyUsage)
        if usage is not None and not (usage.digital_signature or usage.key_encipherment or usage.key_agreement):
            found.add("NOT_SERVER_AUTH", ERROR, "the leaf's key usage (%s) allows none of digital_signature, "
                      "key_encipherment and key_agreement, one of which a TLS server's key needs" % (
                          ", ".join(_certs.key_usage_names(usage)) or "nothing"), leaf)
        return found

    def _check_ca_purpose(self, chain):
        """NOT_SERVER_AUTH: a CA certificate of the chain OpenSSL builds (the CA file's included) whose extended key
        usage has neither serverAuth nor one of the Server Gated Crypto uses: OpenSSL's TLS server purpose refuses
        it (xku_reject for a CA: "unsuitable certificate purpose", 26), anyExtendedKeyUsage alone included, though
        cryptography's verifier takes that for any use."""
        found = _Findings()
        for cert in chain[1:]:
            eku = _ext(cert, x509.ExtendedKeyUsage)
            if eku is not None and not any(oid.dotted_string in _SERVER_PURPOSES for oid in eku):
                role = "trust anchor" if cert in self.anchor_set else "intermediate"
                usages = ", ".join(_certs.eku_names(eku)) or "empty"
                found.add("NOT_SERVER_AUTH", ERROR, "the %s %s has an extended key usage without serverAuth (%s): "
                          "OpenSSL does not take it to issue TLS server certificates" % (role, _subject(cert), usages),
                          cert)
        return found

    def _validate(self, leaf, served, leaf_index, intermediates, names, dns_sans, ip_sans):
        """(verified path or None, the verifier's first error or None) from cryptography's verifier."""
        untrusted = [c for i, (_d, c) in enumerate(served) if i != leaf_index]
        untrusted += [c for _d, c in intermediates]
        verifier_error, verified = None, None
        subjects = [name for name in names if name is not None] or (
            [str(ip) for ip in ip_sans[:1]] if not dns_sans else [dns_sans[0].replace("*", "x", 1)])
        for name in subjects or ["invalid.invalid"]:
            try:  # a wildcard name is checked by _check_names; the verifier gets one name it covers
                path = self._server_verifier(name.replace("*", "x", 1)).verify(leaf, untrusted)
                verified = verified or path
            except verification.VerificationError as exc:
                verifier_error = verifier_error or str(exc)
            except ValueError as exc:  # e.g. a name the verifier cannot represent
                verifier_error = verifier_error or str(exc)
        return verified, verifier_error

    def _reconcile(self, found, leaf, days, verifier_error, chain):
        """The one step where findings depend on each other: "expires soon" unless already expired; the
        verifier's own message only when no check explained the failure. Returns the findings as dicts."""
        found = list(found)
        if _base.expires_soon(days, self.min_days_remaining) and not any(f[0] == "EXPIRED" for f in found):
            found.append(("EXPIRES_SOON", WARNING, "%d days left, fewer than the %d required" % (
                days, self.min_days_remaining), leaf))
        if verifier_error and not any(f[1] == ERROR for f in found):
            about, why = self._verifier_error_about(verifier_error, chain, leaf)
            found.append(("INVALID_CHAIN", ERROR, "the verifier rejected the chain: %s%s" % (
                _oid_names(verifier_error), "; " + why if why else ""), about))
        return [self._finding(f, leaf) for f in found]

    def _finding(self, raw, leaf):
        code, severity, message, cert = raw
        return {"code": code, "severity": severity, "message": message,
                "subject": _subject(cert) if cert is not None else None,
                "fingerprint_sha256": _fp(_certs.der_of(cert)) if cert is not None else None,
                "role": self._role(cert, leaf)}

    # ------------------------------------------------------------ profile openssl
    def _apply_openssl(self, findings, served, intermediates, names, as_given, checks):
        """The findings as the load balancer's OpenSSL sees the chain.

        OpenSSL's verdict decides: an error the strict (WebPKI) rules found but OpenSSL does not give becomes
        a warning that says so; an OpenSSL error the diagnosis did not find is added with OpenSSL's words.
        The load balancer takes the first served certificate as the server's, so OpenSSL checks that one.
        Names are matched by the load balancer's name rule (OpenSSL's X509_check_host unless told otherwise).
        """
        first = served[0][1]
        depth = checks["verify_depth"]
        # Depth -1 is a check the load balancer makes beyond OpenSSL's (Apache's verify callback refuses any
        # certificate above its depth 0): OpenSSL verifies at its own smallest depth, and that check's finding stands.
        own_checks = _POLICY_CODES + REVOCATION_CODES + (("CHAIN_TOO_LONG",) if depth is not None and depth < 0
                                                         else ())
        # A first certificate that is not the leaf (WRONG_ORDER as an error) stays an error whatever OpenSSL says of
        # it: OpenSSL then verifies that CA certificate as if it were the server's, and no server can serve such a
        # file with the leaf's key (it pairs the key with the first certificate). Intermediates merely out of order
        # behind a leaf that is first are a warning already, and stay one.
        own_checks += ("WRONG_ORDER",)
        outcome = self.openssl.verify(served[0][0], [d for d, _c in served[1:]] + [d for d, _c in intermediates],
                                      next(self._tags), depth=None if depth is None else max(depth, 0),
                                      level=checks["security_level"])
        rejected = set()
        for error in outcome["errors"]:
            rejected.update(_openssl.codes_for(error))
        if not outcome["ok"]:
            rejected.add("WRONG_ORDER")  # a leaf served later is the likely reason OpenSSL fails
        prefix = "accepted by OpenSSL; a WebPKI client would reject: " if outcome["ok"] else \
            "not a reason OpenSSL gives; a WebPKI client would reject: "
        out = []
        for finding in findings:
            if finding["code"] == "HOSTNAME_MISMATCH":
                continue  # decided per name below
            strict_only = finding["severity"] == ERROR and finding["code"] not in own_checks and \
                finding["code"] not in rejected
            out.append(dict(finding, severity=WARNING, message=prefix + finding["message"]) if strict_only
                       else finding)
        kept = set(f["code"] for f in out if f["severity"] == ERROR)
        for error in outcome["errors"]:
            codes = _openssl.codes_for(error)
            if not kept.intersection(codes):
                hint = _OPENSSL_HINTS.get(error["code"])
                out.append({"code": codes[0], "severity": ERROR,
                            "message": "OpenSSL rejects the chain: %s (error %d at depth %d%s)%s" % (
                                error["message"], error["code"], error["depth"],
                                ", %s" % error["subject"] if error["subject"] else "", "; " + hint if hint else ""),
                            "subject": error["subject"] if error["depth"] else _subject(first),
                            "fingerprint_sha256": _fp(served[0][0]) if error["depth"] == 0 else None,
                            "role": "issuer" if error["depth"] else "leaf"})
                kept.update(codes)
        rule = checks["name_rule"]
        if rule is not None:
            prefix = "accepted by the load balancer's name rule (%s); a WebPKI client would reject: " % rule
        return out + self._names_by_rule(served[0], names, as_given, rule, prefix)

    def _apply_name_rule(self, findings, served_first, names, as_given, rule):
        """A load balancer's name rule (None: OpenSSL's) decides each name, where OpenSSL's chain verdict does not
        apply (profile webpki, or a chain that is not verified); a leaf without subjectAltName only matters
        through the names it fails."""
        prefix = "accepted by the load balancer's name rule (%s); a WebPKI client would reject: " % rule if rule \
            else "accepted by OpenSSL; a WebPKI client would reject: "
        out = []
        for finding in findings:
            if finding["code"] == "HOSTNAME_MISMATCH":
                continue  # decided per name below
            if finding["code"] == "NO_SAN" and finding["severity"] == ERROR:
                out.append(dict(finding, severity=WARNING, message=prefix + finding["message"]))
            else:
                out.append(finding)
        return out + self._names_by_rule(served_first, names, as_given, rule, prefix)

    def _names_by_rule(self, served_first, names, as_given, rule, prefix):
        """HOSTNAME_MISMATCH per name the load balancer's rule refuses (an error), or that only a WebPKI client
        would refuse (a warning that says so). rule None: OpenSSL's X509_check_host, or X509_check_ip for an
        address (`openssl verify -verify_hostname/-verify_ip`)."""
        der, first = served_first
        dns_sans, ip_sans = _sans(first)
        common_names = _common_names(first)
        out = []
        for name, given in zip(names, as_given):
            by_rule = _names.rule_matches(rule, given, dns_sans, ip_sans, common_names) if rule else \
                _names.openssl_matches(name, dns_sans, ip_sans, common_names)
            by_webpki = name is not None and bool(dns_sans or ip_sans) and name_matches(name, dns_sans, ip_sans)
            if by_rule and by_webpki:
                continue
            message = "%s is not covered by the leaf's names (DNS: %s; IP: %s%s)" % (
                given, ", ".join(dns_sans) or "none", ", ".join(str(i) for i in ip_sans) or "none",
                "; CN: %s" % ", ".join(common_names) if common_names and (rule or not dns_sans) else "")
            out.append({"code": "HOSTNAME_MISMATCH", "severity": WARNING if by_rule else ERROR,
                        "message": prefix + message if by_rule else message, "subject": _subject(first),
                        "fingerprint_sha256": _fp(der), "role": "leaf"})
        return out

    def _check_depth(self, path, depth):
        """CHAIN_TOO_LONG: more intermediates between the leaf and its anchor than the load balancer's verify
        depth allows (OpenSSL's count: neither the leaf nor the anchor counts). Depth -1 (Apache's
        SSLProxyVerifyDepth 0) takes only a leaf that is itself a trust anchor: any certificate above it is too many."""
        found = _Findings()
        if depth is None or len(path) < 2 or path[-1] not in self.anchor_set:
            return found
        between = path[1:-1]
        if depth < 0:
            found.add("CHAIN_TOO_LONG", ERROR, "the load balancer's verify depth takes only a certificate its trust "
                      "anchors hold themselves (Apache's SSLProxyVerifyDepth 0), and this leaf's path to its anchor "
                      "has %d certificate(s) above the leaf: raise the depth (1 admits a leaf issued by an anchor), "
                      "or put this very certificate in the CA file" % (len(path) - 1), path[1])
        elif len(between) > depth:
            found.add("CHAIN_TOO_LONG", ERROR, "the path from the leaf to the trust anchor has %d intermediate "
                      "certificate(s); the load balancer's verify depth allows %d: raise its depth, or issue from a "
                      "CA closer to the anchor it trusts" % (len(between), depth), between[depth])
        return found

    def _openssl_chain(self, path, pool, anchored_only=True):
        """The anchored path continued as OpenSSL continues it: while its last certificate is not self-signed, its
        issuer from the trust anchors (then the certificates served and given), by name as X509_NAME_cmp compares
        names (case and blanks do not count) and by signature. An unanchored path stays as it is (nothing to
        continue from). anchored_only=False: path is the leaf alone, and the chain is built from it the same way;
        [] when that reaches no trust anchor (OpenSSL would not accept it either)."""
        if not path or (anchored_only and path[-1] not in self.anchor_set):
            return path
        chain = list(path)
        while not _self_issued(chain[-1]) and len(chain) < 100:
            issuer = self._openssl_issuer(chain, self.anchors + pool)
            if issuer is None:
                break
            chain.append(issuer)
        if not anchored_only and not any(c in self.anchor_set for c in chain):
            return []
        return chain

    def _openssl_issuer(self, chain, candidates):
        """The issuer OpenSSL takes for chain[-1] among candidates (in its order: the trust anchors, then the
        certificates served and given): the first one valid at the verification time, else the one whose validity
        ends last (X509_STORE_CTX_get1_issuer and find_issuer). A CA file holding a root as first issued (expired)
        and as re-issued (same name and key) is built through the valid one, as OpenSSL builds it."""
        found = [c for c in candidates if c not in chain and self._openssl_issued_by(chain[-1], c)]
        for cert in found:
            not_before, not_after = _validity(cert)
            if not_before <= self.at <= not_after:
                return cert
        return max(found, key=lambda c: _validity(c)[1]) if found else None

    def _openssl_issued_by(self, child, parent):
        """_issued_by with names compared as OpenSSL's X509_NAME_cmp compares them (canonical names, cached: a
        batch asks about the same anchors again and again)."""
        if child.issuer != parent.subject and self._canonical(child.issuer) != self._canonical(parent.subject):
            return False
        return _signed_by(child, parent)

    def _canonical(self, name):
        """_canonical_name, once per name and batch (the same anchors and CRL issuers are asked about again and
        again)."""
        canonical = self._canonical_names.get(name)
        if canonical is None:
            canonical = _canonical_name(name)
            if len(self._canonical_names) < 4096:
                self._canonical_names[name] = canonical
        return canonical

    def _check_revocation(self, chain, checks):
        """REVOKED, CRL_MISSING, CRL_EXPIRED, CRL_INVALID: the chain OpenSSL builds (_openssl_chain) checked against
        the load balancer's CRLs as OpenSSL checks them for it: X509_V_FLAG_CRL_CHECK (`leaf`) the first
        certificate, with CRL_CHECK_ALL (`chain`) every one, the self-signed root included; each against a CRL of
        its issuer (itself, for a self-signed one). crl_check None means `chain` when CRLs were given; asked for
        without any CRL it is said (info), not guessed.
        """
        found = _Findings()
        mode = checks["crl_check"] or ("chain" if self.crls else "none")
        if mode == "none" or not any(cert in self.anchor_set for cert in chain):  # no anchored chain: other findings
            return found
        if not self.crls:
            found.add("REVOCATION_UNCHECKED", INFO, "the load balancer checks revocation (%s) against its CRLs, and "
                      "none were given (crl_content or crl_path): revocation was not checked" % mode, chain[0])
            return found
        for index, cert in enumerate(chain[:1] if mode == "leaf" else chain):
            issuer = chain[index + 1] if index + 1 < len(chain) else cert
            for code, message in self._revocation(cert, issuer):
                if not (code == "CRL_MISSING" and checks["crl_missing_ok"]):
                    found.add(code, ERROR, message, cert)
        return found

    def _revocation(self, cert, issuer):
        """[(code, message)]: why the load balancer refuses cert on revocation grounds ([] when it does not).

        As OpenSSL's check_cert: it takes CRLs one at a time until every revocation reason is covered. Each time
        the CRL is chosen as get_crl_sk scores them: the issuer's name and key (a CRL naming another key is none of
        its), then no unhandled critical extension, in scope for the certificate (issuing distribution point), current,
        and the newest of equals; one in scope that covers no reason not yet covered is none, and indirect and
        reason-partitioned CRLs are none (no extended CRL support). The chosen CRL is then checked as check_crl and
        cert_crl do (_crl_problems). `openssl verify` goes on after a CRL's dates and a critical extension, so those
        findings come with what follows."""
        about = _subject(issuer)
        wanted = self._canonical(cert.issuer)
        candidates = [(crl, _crl_reasons(crl, cert, self._canonical)) for _der, crl in self.crls
                      if self._canonical(crl.issuer) == wanted and _crl_key_matches(crl, issuer)
                      and not _crl_extended(crl)]
        if not candidates:
            return [("CRL_MISSING", "the load balancer checks revocation and has no CRL from %s, which issued this "
                                    "certificate: it refuses the chain (OpenSSL: unable to get certificate CRL); "
                                    "add that CA's current CRL to its CRL file" % about)]
        covered, problems = frozenset(), []
        while covered != _ALL_REASONS:
            scored = []
            for crl, reasons in candidates:
                if reasons is not None and reasons <= covered:
                    continue  # in scope, and nothing it would add: get_crl_score rejects it
                last, following = _certs.crl_dates(crl)
                current = last <= self.at and (following is None or following > self.at)
                scored.append(((not self._critical(crl), reasons is not None, current, last), crl, reasons))
            if not scored:
                return problems + [("CRL_MISSING", "the certificate's CRL distribution point limits the CRL of %s to "
                                                   "some revocation reasons, and the load balancer's OpenSSL finds no "
                                                   "CRL for the others: it refuses the chain (unable to get "
                                                   "certificate CRL)" % about)]
            (_critical_free, in_scope, current, _last), crl, reasons = max(scored, key=lambda one: one[0])
            found, final = self._crl_problems(crl, cert, issuer, in_scope, current)
            problems += found
            if final:
                return problems
            if not in_scope:  # a delta CRL, whose scope OpenSSL does not check: it covers no reason of this one
                return problems + [("CRL_MISSING", "the CRL from %s the load balancer's OpenSSL picks is a delta CRL "
                                                   "whose issuing distribution point limits it to other certificates: "
                                                   "it finds no CRL for this one and refuses the chain (unable to get "
                                                   "certificate CRL)" % about)]
            covered |= reasons
        return problems

    def _crl_problems(self, crl, cert, issuer, in_scope, current):
        """([(code, message)], whether OpenSSL stops there) of one CRL check_crl and cert_crl make: the issuer may
        sign CRLs, the CRL's scope (these two of a base CRL only: a delta CRL, which OpenSSL without extended CRL
        support takes as its issuer's CRL, skips them), its dates, its signature, its critical extensions, the
        certificate's serial."""
        about = _subject(issuer)
        delta = _crl_delta(crl)
        usage = _ext_checked(issuer, x509.KeyUsage)[0]
        if not delta and usage is not None and not usage.crl_sign:
            return [("CRL_INVALID", "%s may not sign CRLs (its key usage lacks cRLSign)" % about)], True
        if not delta and not in_scope:
            return [("CRL_INVALID", "the CRL from %s does not cover this certificate (its issuing distribution point "
                                    "limits it to other certificates; OpenSSL: different CRL scope)" % about)], True
        problems = []
        last, following = _certs.crl_dates(crl)
        if not current and last > self.at:
            problems.append(("CRL_INVALID", "the CRL from %s is not valid before %s" % (about, _certs.iso(last))))
        elif not current:
            problems.append(("CRL_EXPIRED", "the CRL from %s expired on %s (its next update): the load balancer "
                             "refuses every chain it covers until its CRL file is refreshed" % (
                                 about, _certs.iso(following))))
        if not self._crl_signed(crl, issuer):
            return problems + [("CRL_INVALID", "the CRL named after %s is not signed by its key (OpenSSL: CRL "
                                               "signature failure): replace it with the CA's own CRL" % about)], True
        if self._critical(crl):
            problems.append(("CRL_INVALID", "the CRL from %s has a critical extension OpenSSL does not handle: "
                                            "the load balancer refuses it" % about))
        entry = self._revoked(crl, cert)
        reason = _revocation_reason(entry) if entry is not None else None
        if entry is not None and reason != x509.ReasonFlags.remove_from_crl.value:  # OpenSSL's cert_crl: not revoked
            when = _certs.iso(_revocation_date(entry))
            problems.append(("REVOKED", "revoked by %s on %s%s" % (about, when, " (%s)" % reason if reason else "")))
            return problems, True
        return problems, False

    def _crl_signed(self, crl, issuer):
        """Whether issuer's key signed the CRL, once per (CRL, issuer) for the whole batch."""
        key = (id(crl), _fp(_certs.der_of(issuer)))
        if key not in self._crl_signatures:
            self._crl_signatures[key] = _crl_signed_by(crl, issuer)
        return self._crl_signatures[key]

    def _critical(self, crl):
        """_crl_critical, once per CRL for the whole batch (it reads every entry's extensions)."""
        if id(crl) not in self._crl_critical:
            self._crl_critical[id(crl)] = _crl_critical(crl)
        return self._crl_critical[id(crl)]

    def _revoked(self, crl, cert):
        """The CRL's entry revoking cert, or None: its serials read once per batch (a CA's CRL may list 100,000s).

        As OpenSSL reads entries (crl_set_issuers, def_crl_lookup): an entry's certificateIssuer names the CA of that
        entry and of every one after it until the next; an entry under none is about the CRL issuer's certificates.
        The first entry with cert's serial whose CA issued cert is the one."""
        if id(crl) not in self._crl_serials:
            table = {}
            try:
                for index, entry in enumerate(crl):
                    table.setdefault(entry.serial_number, []).append(index)
            except _certs.EXTENSION_ERRORS:  # unreadable entries: _crl_critical has refused the CRL already
                table = {}
            self._crl_serials[id(crl)] = table
        indexes = self._crl_serials[id(crl)].get(cert.serial_number)
        if not indexes:
            return None
        if id(crl) not in self._crl_issuers:  # only for a CRL listing the serial: it reads every entry's extensions
            self._crl_issuers[id(crl)] = _crl_entry_issuers(crl)
        entries = self._crl_issuers[id(crl)]
        issuer = self._canonical(cert.issuer)
        for entry, names in (entries[index] for index in indexes):
            if names is None:
                if self._canonical(crl.issuer) == issuer:
                    return entry
            elif any(isinstance(name, x509.DirectoryName) and self._canonical(name.value) == issuer
                     for name in names):
                return entry
        return None

    @staticmethod
    def _unchecked(finding, check_expiry, named):
        """A finding about something a load balancer that does not verify the chain never looks at: info.

        Still checked without verification: the key pairing (the user's policy), each name given (only pass the
        names the load balancer still checks, as Apache does; under WebPKI rules a leaf without subjectAltName
        matches none of them) and, with check_expiry, the leaf's own dates."""
        if finding["severity"] != ERROR or finding["code"] in ("KEY_MISMATCH", "HOSTNAME_MISMATCH") or (
                named and finding["code"] == "NO_SAN"):
            return finding
        if check_expiry and finding["code"] in ("EXPIRED", "NOT_YET_VALID") and finding["role"] == "leaf":
            return finding
        return dict(finding, severity=INFO, message="not checked by the load balancer (it does not verify the "
                    "chain): " + finding["message"])

    # ------------------------------------------------------------ diagnosis helpers
    def _role(self, cert, leaf):
        """Where a finding's certificate stands: leaf, intermediate or trust anchor (None: about no certificate)."""
        if cert is None:
            return None
        if cert is leaf or (leaf is not None and cert == leaf):
            return "leaf"
        if cert in self.anchor_set:
            return "trust anchor"
        return "root" if _self_issued(cert) and _issued_by(cert, cert) else "intermediate"

    def _verifier_error_about(self, error, chain, leaf):
        """(certificate, explanation) for the verifier's message: a missing extension is about the CA lacking it."""
        match = re.search(r"invalid extension: ([0-9.]+): (.*)", error)
        if not match:
            return leaf, None
        oid = x509.ObjectIdentifier(match.group(1))
        lacking = [cert for cert in chain if not _has_extension(cert, oid)]
        if "missing" in match.group(2).lower() and lacking:
            cert = lacking[-1]  # the CA furthest up is what the rule for CAs is about
            return cert, "the %s %s has no %s extension" % (self._role(cert, leaf), _subject(cert),
                                                            _OID_NAMES.get(oid.dotted_string, oid.dotted_string))
        return leaf, None

    def _check_served(self, served, leaf_der):
        found = _Findings()
        add = found.add
        seen = {}
        for index, (der, cert) in enumerate(served):
            if der in seen:
                add("DUPLICATE_CERT", WARNING, "certificate %d repeats certificate %d; send it once" % (
                    index + 1, seen[der] + 1), cert)
                continue
            seen[der] = index
            if der != leaf_der and _self_issued(cert) and _issued_by(cert, cert):
                add("ROOT_INCLUDED", INFO, "the served chain includes a root; clients use their own, so it can be "
                    "left out", cert)
        return found

    def _walk(self, leaf, served, intermediates):
        """Follow issuers from the leaf through the served and extra certificates to an anchor.

        Diagnosis only: it explains a failure the verifier reported; it decides nothing.
        Returns (certificates from leaf, end) with end 'anchored', 'untrusted_root' or 'missing'.
        """
        pool = [c for _d, c in served] + [c for _d, c in intermediates]
        walk, seen = [leaf], {leaf}
        current = leaf
        while len(walk) < 16:
            anchor = next((a for a in self.anchors if _issued_by(current, a)), None)
            if anchor is not None or current in self.anchor_set:
                if anchor is not None and anchor not in seen:
                    walk.append(anchor)
                return walk, "anchored"
            if _self_issued(current) and _issued_by(current, current):
                return walk, "untrusted_root"
            parent = next((c for c in pool if c not in seen and _issued_by(current, c)), None)
            if parent is None:
                return walk, "missing"
            walk.append(parent)
            seen.add(parent)
            current = parent
        return walk, "missing"

    def _explain_walk(self, walk, end, pool=()):
        found = _Findings()
        add = found.add
        last = walk[-1]
        if end == "untrusted_root" and len(walk) == 1:
            return found  # the leaf itself is the untrusted root: SELF_SIGNED says it
        if end == "untrusted_root":
            add("UNTRUSTED_ROOT", ERROR, "the chain ends in %s, which the load balancer does not trust; add it to "
                "the load balancer's CA file or issue from a trusted CA" % _subject(last), last)
        elif end == "missing":
            aki = _ext(last, x509.AuthorityKeyIdentifier)
            urls = _certs.aia_urls(last)[1]
            key_id = aki.key_identifier if aki is not None else None
            detail = "%s%s%s" % (last.issuer.rfc4514_string(), " (key id %s)" % key_id.hex() if key_id else "",
                                 ", available at %s" % ", ".join(urls) if urls else "")
            namesake = self._namesake(last, key_id, pool)
            if namesake is not None:
                found += namesake
                return found
            system_root = _system_root_for(last, key_id)
            if system_root is not None:
                add("UNTRUSTED_ROOT", ERROR, "the chain ends at the root %s, which this host's system trust store "
                    "holds but the load balancer's CA file does not; add it to the CA file or issue from a CA it "
                    "trusts" % detail, last)
            elif "root" in last.issuer.rfc4514_string().lower():
                add("UNTRUSTED_ROOT", ERROR, "the chain ends at %s, issued by %s, which the load balancer's CA file "
                    "does not hold; its name says it is a root: add it to the CA file (or, if it is an intermediate "
                    "after all, serve it)" % (_subject(last), detail), last)
            elif len(walk) > 1:
                add("INCOMPLETE_CHAIN", ERROR, "the chain ends at %s, issued by %s, which is neither served nor in "
                    "the load balancer's CA file; that cannot be told offline: if it is an intermediate, serve it "
                    "after %s; if it is the root, add it to the CA file" % (_subject(last), detail, _subject(last)),
                    last)
            else:
                add("INCOMPLETE_CHAIN", ERROR, "missing intermediate: issuer %s is neither served nor in the load "
                    "balancer's CA file; serve it after the leaf (if it is a root instead, add it to the CA file)"
                    % detail, last)
        return found

    def _namesake(self, cert, key_id, pool):
        """Findings when a certificate with the name of cert's issuer is at hand (served, given or in the CA file) but
        did not sign cert; None when there is none. Its key id tells a damaged signature (the issuer's own key id:
        INVALID_CHAIN) from another certificate of that name: an intermediate from before the CA's key changed,
        or another CA's (the issuer that signed cert is missing: INCOMPLETE_CHAIN, or UNTRUSTED_ROOT when the
        CA file holds the namesake, as a re-keyed root does). OpenSSL says "certificate signature failure" (error
        7) when it picks such a certificate, "unable to get local issuer certificate" when the key ids rule it out."""
        found = _Findings()
        candidates = [c for c in list(pool) + self.anchors if c.subject == cert.issuer and c != cert]
        if not candidates:
            return None
        for other in candidates:
            ski = _ext(other, x509.SubjectKeyIdentifier)
            if key_id is not None and ski is not None and ski.digest == key_id:
                found.add("INVALID_CHAIN", ERROR, "the signature of %s does not verify with the key of its issuer %s, "
                          "which has the key id it names (%s): the certificate is damaged or was altered; reissue "
                          "it" % (_subject(cert), _subject(other), key_id.hex()), cert)
                return found
        other = candidates[0]
        urls = _certs.aia_urls(cert)[1]
        wanted = "%s%s" % (" (key id %s)" % key_id.hex() if key_id else "",
                           ", available at %s" % ", ".join(urls) if urls else "")
        if other in self.anchor_set:
            code, where, why, fix = "UNTRUSTED_ROOT", "the load balancer's CA file holds", \
                "the CA's key changed, or another CA uses the name", "add the issuer that signed it%s to the CA file"
        else:
            code, where, why, fix = "INCOMPLETE_CHAIN", "the chain carries", \
                "an intermediate from before the CA's key changed, or another CA's", \
                "serve the intermediate that signed it%s instead"
        if key_id is not None and _ext(other, x509.SubjectKeyIdentifier) is not None:  # the key ids differ
            how = "but another key, so it did not sign it (%s)" % why
        else:  # without both key ids a damaged signature looks the same
            how = "but did not sign it: it has another key (%s), or the signature of %s is damaged" % (
                why, _subject(cert))
        found.add(code, ERROR, "%s %s, which has the name of the issuer of %s %s: %s" % (
            where, _subject(other), _subject(cert), how, fix % wanted), cert)
        return found

    def _check_path(self, path, leaf):
        """Dates, keys and signature hashes of every certificate of the chain OpenSSL builds (_openssl_chain), the
        CA file's own included: OpenSSL checks the dates and key of each, and the signature of each but the trust
        anchor it ends at (whose self-signature vouches for nothing); a SHA-1-signed intermediate that the CA file
        holds is refused as one that is served."""
        found = _Findings()
        add = found.add
        for index, cert in enumerate(path):
            role = "leaf" if index == 0 else ("trust anchor" if cert in self.anchor_set else "intermediate")
            if role == "trust anchor" and index < len(path) - 1:
                role = "intermediate of the CA file"  # an anchor OpenSSL builds beyond, to its root
            self._check_dates(add, cert, role)
            weak = self._weak_key(cert)
            if weak:
                add("WEAK_KEY", ERROR, "the %s has %s" % (role, weak), cert)
            if not (index == len(path) - 1 and cert in self.anchor_set):
                try:
                    algorithm = cert.signature_hash_algorithm
                except UnsupportedAlgorithm:
                    algorithm = None
                if algorithm is not None and algorithm.name in _WEAK_HASHES:
                    add("WEAK_SIGNATURE", ERROR, "the %s is signed with %s; reissue with SHA-256 or better" % (
                        role, algorithm.name.upper()), cert)
        if not path:  # no path: the leaf's own dates still matter
            self._check_dates(add, leaf, "leaf")
        return found

    def _check_dates(self, add, cert, role):
        not_before, not_after = _validity(cert)
        if self.at > not_after:
            add("EXPIRED", ERROR, "the %s expired on %s; renew it" % (role, _certs.iso(not_after)), cert)
        elif self.at < not_before:
            add("NOT_YET_VALID", ERROR, "the %s is valid only from %s" % (role, _certs.iso(not_before)), cert)

    def _weak_key(self, cert):
        try:
            key = cert.public_key()
        except (ValueError, UnsupportedAlgorithm):
            return "a public key that cannot be read"
        if isinstance(key, rsa.RSAPublicKey):
            if key.key_size < self.min_rsa_bits:
                return "a %d-bit RSA key (minimum %d)" % (key.key_size, self.min_rsa_bits)
            if "rsa_modulus_bytes" in self.strict and key.key_size % 8:
                return "a %d-bit RSA modulus, not a whole number of bytes" % key.key_size
        elif isinstance(key, dsa.DSAPublicKey):
            return "a DSA key, which TLS clients no longer accept"
        elif isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < 224:
            return "a %d-bit elliptic curve (%s)" % (key.curve.key_size, key.curve.name)
        return None

    def _check_strict(self, path, leaf):
        """RFC 5280 rules the verifier leaves out (each measured on x509-limbo)."""
        found = _Findings()
        add = found.add
        for index, cert in enumerate(path):
            anchor = cert in self.anchor_set
            if "serial_positive" in self.strict and not anchor and cert.serial_number <= 0:
                add("INVALID_CHAIN", ERROR, "serial number is not positive (RFC 5280 4.1.2.2)", cert)
            ski = _ext(cert, x509.SubjectKeyIdentifier)
            if "ca_has_ski" in self.strict and index > 0 and _is_ca(cert) and ski is None:
                add("INVALID_CHAIN", ERROR, "CA certificate without subjectKeyIdentifier (RFC 5280 4.2.1.2)",
                    cert)
            aki, aki_problem = _ext_checked(cert, x509.AuthorityKeyIdentifier)
            if "issued_has_aki" in self.strict and index > 0 and not anchor and aki is None and not aki_problem:
                add("INVALID_CHAIN", ERROR, "intermediate without authorityKeyIdentifier (RFC 5280 4.2.1.1)",
                    cert)
            if "anchor_aki_consistent" in self.strict and anchor and _self_issued(cert):
                if aki_problem:
                    add("INVALID_CHAIN", ERROR, "trust anchor's authorityKeyIdentifier is malformed: %s" % aki_problem,
                        cert)
                elif aki is None:
                    pass
                elif aki.authority_cert_issuer or aki.authority_cert_serial_number is not None:
                    add("INVALID_CHAIN", ERROR, "trust anchor's authorityKeyIdentifier names an issuer or serial",
                        cert)
                elif ski is not None and aki.key_identifier not in (None, ski.digest):
                    add("INVALID_CHAIN", ERROR, "self-signed trust anchor's authority and subject key ids differ",
                        cert)

        if "cn_spelling" in self.strict and path:
            found.extend(self._check_cn_spelling(path[0]))
        return found

    def _check_cn_spelling(self, leaf):
        """A CN that names one of the SANs must be that SAN byte for byte (CA/B BR 7.1.4.3)."""
        found = _Findings()
        add = found.add
        dns, ips = _sans(leaf)
        for cn in _common_names(leaf):
            if cn in dns or cn in [str(i) for i in ips]:
                continue
            same = any(cn.lower() == d.lower() for d in dns)
            address = _base.ip_address(cn)
            same = same or (address is not None and address in ips)
            if same:
                add("INVALID_CHAIN", ERROR, "the subject CN %r names a SAN but is spelled differently" % cn, leaf)
        return found

    def _check_unneeded(self, served, path, leaf_index):
        found = _Findings()
        add = found.add
        on_path = set(path)  # Certificate objects compare by DER
        order = []
        for _der_bytes, cert in served:
            if cert in on_path and cert not in order:
                order.append(cert)
        expected = [c for c in path if c in order]
        reported = set()
        for index, (_der_bytes, cert) in enumerate(served):
            if cert not in on_path and cert not in reported and not (_self_issued(cert) and _issued_by(cert, cert)):
                reported.add(cert)
                add("UNNEEDED_CERT", WARNING, "certificate %d is not on the path to the trust anchor; remove it" % (
                    index + 1), cert)
        if leaf_index == 0 and order != expected:
            add("WRONG_ORDER", WARNING, "the intermediates are not in path order (each certificate should be "
                "followed by its issuer); most clients cope, some do not", path[0])
        return found

    def _describe(self, cert):
        """{subject, fingerprint_sha256, not_after}, cached: a batch shares its intermediates and anchors."""
        der = _certs.der_of(cert)  # the key: a certificate equals a lenient copy with its bytes (see _certs.der_of)
        described = self._described.get(der)
        if described is None:
            described = {"subject": _subject(cert), "fingerprint_sha256": _fp(der),
                         "not_after": _certs.iso(_validity(cert)[1])}
            if len(self._described) < 4096:
                self._described[der] = described
        return dict(described)

    def _days_remaining(self, path):
        if not path:
            return None
        earliest = min(_validity(c)[1] for c in path)
        return int((earliest - self.at).total_seconds() // 86400)

    def _result(self, findings, path, leaf, days):
        leaf_info = None
        if leaf is not None:
            dns, ips = _sans(leaf)
            described = self._describe(leaf)
            leaf_info = {"subject": described["subject"], "fingerprint_sha256": described["fingerprint_sha256"],
                         "sans": {"dns": dns, "ip": [str(i) for i in ips]}, "not_after": described["not_after"],
                         "days_remaining": int((_validity(leaf)[1] - self.at).total_seconds() // 86400)}
        return {
            "valid": not any(f["severity"] == ERROR for f in findings),
            "findings": findings,
            "verified_chain": [self._describe(c) for c in path],
            "leaf": leaf_info,
            "days_remaining": days,
        }


def _crl_key_matches(crl, issuer):
    """Whether the CRL's authorityKeyIdentifier may name the issuer, as OpenSSL's X509_check_akid decides: False when
    it names another key than the issuer's subjectKeyIdentifier, another serial number than the issuer's, or (its
    first directory name) another name than the issuer's own issuer; True for what it leaves out."""
    extensions = _extensions(crl)
    try:
        aki = extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except (x509.ExtensionNotFound, AttributeError):  # AttributeError: unreadable extensions (_crl_critical says so)
        return True
    subject_key = _ext_checked(issuer, x509.SubjectKeyIdentifier)[0]
    if aki.key_identifier is not None and subject_key is not None and subject_key.digest != aki.key_identifier:
        return False
    if aki.authority_cert_serial_number is not None and aki.authority_cert_serial_number != issuer.serial_number:
        return False
    named = next((name.value for name in aki.authority_cert_issuer or () if isinstance(name, x509.DirectoryName)),
                 None)
    return named is None or _canonical_name(named) == _canonical_name(issuer.issuer)


def _signed_with(key, signature, tbs, algorithm, parameters):
    """Whether key made signature over tbs with this hash (and RSA padding): any hash, SHA-1 included, as OpenSSL
    checks a CRL's signature whatever its security level."""
    try:
        if isinstance(key, rsa.RSAPublicKey):  # PKCS#1 v1.5 or PSS, as the signed object says
            key.verify(signature, tbs, parameters or padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, tbs, ec.ECDSA(algorithm))
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(signature, tbs, algorithm)
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(signature, tbs)
        else:
            return False
        return True
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False


def _crl_signed_by(crl, issuer):
    try:
        return _signed_with(issuer.public_key(), crl.signature, crl.tbs_certlist_bytes, crl.signature_hash_algorithm,
                            getattr(crl, "signature_algorithm_parameters", None))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False


# Critical extensions OpenSSL handles in a CRL (crl_cb: the rest make it EXFLAG_CRITICAL) and in a CRL entry.
_CRL_HANDLED = ("2.5.29.28", "2.5.29.35", "2.5.29.27")  # issuingDistributionPoint, authorityKeyIdentifier, deltaCRL
_CRL_ENTRY_HANDLED = ("2.5.29.29",)  # certificateIssuer


def _extensions(obj):
    """An object's extensions, or None when cryptography cannot read them (duplicated, malformed)."""
    try:
        return obj.extensions
    except _certs.EXTENSION_ERRORS:
        return None


def _crl_critical(crl):
    """Whether OpenSSL refuses the CRL for a critical extension it does not handle (unhandled critical CRL
    extension, 36), on the CRL or on any of its entries; unreadable extensions count as such."""
    extensions = _extensions(crl)
    if extensions is None or any(e.critical and e.oid.dotted_string not in _CRL_HANDLED for e in extensions):
        return True
    try:
        for entry in crl:
            entry_extensions = _extensions(entry)
            if entry_extensions is None or any(e.critical and e.oid.dotted_string not in _CRL_ENTRY_HANDLED
                                               for e in entry_extensions):
                return True
    except _certs.EXTENSION_ERRORS:  # an entry cryptography cannot read: OpenSSL would not load such a CRL
        return True
    return False


def _idp(crl):
    extensions = _extensions(crl)
    try:
        return extensions.get_extension_for_class(x509.IssuingDistributionPoint).value if extensions else None
    except x509.ExtensionNotFound:
        return None


def _crl_delta(crl):
    """Whether the CRL is a delta CRL (deltaCRLIndicator)."""
    extensions = _extensions(crl)
    try:
        return bool(extensions and extensions.get_extension_for_class(x509.DeltaCRLIndicator))
    except x509.ExtensionNotFound:
        return False


def _crl_extended(crl):
    """An indirect or reason-partitioned CRL: OpenSSL without extended CRL support takes it for none."""
    idp = _idp(crl)
    return idp is not None and (idp.indirect_crl or idp.only_some_reasons is not None)


def _crl_reasons(crl, cert, canonical):
    """The revocation reasons (names) the CRL covers for cert as OpenSSL's crl_crldp_check finds them, or None when it
    is out of scope: its issuing distribution point may be for user or CA certificates only, never attribute ones;
    the first of the certificate's distribution points that leads to it (_crl_point) limits it to the reasons that
    point names; where none does, a CRL without an issuing distribution point name covers every reason, one with a
    name covers the certificate for none (out of scope)."""
    idp = _idp(crl)
    if idp is not None and (idp.only_contains_attribute_certs or (idp.only_contains_user_certs and _is_ca(cert)) or (
            idp.only_contains_ca_certs and not _is_ca(cert))):
        return None
    point = _crl_point(crl, cert, canonical)
    if point is None:
        return _ALL_REASONS if idp is None or (not idp.full_name and not idp.relative_name) else None
    return _ALL_REASONS if point.reasons is None else frozenset(r.name for r in point.reasons) & _ALL_REASONS


def _crl_point(crl, cert, canonical):
    """The first of the certificate's CRL distribution points that leads to this CRL, as OpenSSL's crl_crldp_check
    looks for it, or None: one without a cRLIssuer or naming the CRL's issuer (crldp_check_crlissuer), whose name
    agrees with the CRL's issuing distribution point's (idp_check_dp), if it has one."""
    idp = _idp(crl)
    wanted = _point_name(idp.full_name, idp.relative_name, crl.issuer, canonical) if idp is not None else None
    issuer = canonical(crl.issuer)
    for point in _ext_checked(cert, x509.CRLDistributionPoints)[0] or []:
        if point.crl_issuer is not None and not any(
                isinstance(name, x509.DirectoryName) and canonical(name.value) == issuer for name in point.crl_issuer):
            continue
        # a relative name is relative to the first directory name of its cRLIssuer, else to the certificate's issuer
        # (setup_dp)
        base = next((name.value for name in point.crl_issuer or () if isinstance(name, x509.DirectoryName)),
                    cert.issuer)
        if _names_agree(_point_name(point.full_name, point.relative_name, base, canonical), wanted, canonical):
            return point
    return None


def _point_name(full_name, relative_name, base, canonical):
    """A distribution point's name as idp_check_dp compares it: ('full', its general names); ('dn', the canonical
    name a relative name stands for: DIST_POINT_set_dpname's, the base name followed by each attribute of the
    relative name as an RDN of its own, in its order); None for no name."""
    if full_name:
        return ("full", list(full_name))
    if relative_name is not None:
        rdns = [x509.RelativeDistinguishedName([attribute]) for attribute in relative_name]
        return ("dn", canonical(x509.Name(list(base.rdns) + rdns)))
    return None


def _names_agree(one, other, canonical):
    """OpenSSL's idp_check_dp: a missing name agrees with any; two names in full share a general name (directory
    names compared as X509_NAME_cmp does); a relative name agrees with its own name, or a directory name in full
    equal to it."""
    if one is None or other is None:
        return True
    if one[0] == "dn" and other[0] == "dn":
        return one[1] == other[1]
    if "dn" in (one[0], other[0]):
        name, full = (one, other) if one[0] == "dn" else (other, one)
        return any(isinstance(g, x509.DirectoryName) and canonical(g.value) == name[1] for g in full[1])
    return any(_general_names_equal(mine, theirs, canonical) for mine in one[1] for theirs in other[1])


def _general_names_equal(one, other, canonical):
    if isinstance(one, x509.DirectoryName) and isinstance(other, x509.DirectoryName):
        return canonical(one.value) == canonical(other.value)
    return one == other


# every reason a CRL distribution point may name (RFC 5280's ReasonFlags, bits 1-8: OpenSSL's CRLDP_ALL_REASONS), by
# name (cryptography is imported only where it is installed: see the imports above)
_ALL_REASONS = frozenset(("key_compromise", "ca_compromise", "affiliation_changed", "superseded",
                          "cessation_of_operation", "certificate_hold", "privilege_withdrawn", "aa_compromise"))


def _crl_entry_issuers(crl):
    """[(entry, the GeneralNames of the CA it is about, or None for the CRL's issuer)] in the CRL's order: each
    certificateIssuer holds for its entry and the ones after it (OpenSSL's crl_set_issuers)."""
    out, names = [], None
    for entry in crl:
        try:
            names = _extensions(entry).get_extension_for_class(x509.CertificateIssuer).value
        except (x509.ExtensionNotFound, AttributeError):  # AttributeError: unreadable (_crl_critical refused it)
            pass
        out.append((entry, names))
    return out


def _revocation_date(entry):
    try:
        return entry.revocation_date_utc
    except AttributeError:  # cryptography < 42
        return entry.revocation_date.replace(tzinfo=datetime.timezone.utc)


def _revocation_reason(entry):
    """The entry's reason code as RFC 5280 names it (keyCompromise, removeFromCRL...), or None."""
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
    except (x509.ExtensionNotFound,) + _certs.EXTENSION_ERRORS:
        return None


def _canonical_name(name):
    """The name as OpenSSL's X509_NAME_cmp compares names (case and blanks do not count); its DER when it cannot be
    read so (then only an identical name is equal)."""
    try:
        return _certs.canonical_name(name)
    except ValueError:
        return name.public_bytes()


def key_spki(*, key_path=None, key_content=None):
    """(public key DER, problem) of a private key given by path or content; never returns key bytes."""
    if key_path:
        try:  # never blocks on a FIFO or device, never reads more than a key file can be
            data = _base.read_file(key_path)
        except CertError as exc:
            return None, "cannot read the key file: %s" % exc.message
    elif key_content:
        data = key_content.encode() if isinstance(key_content, str) else key_content
    else:
        return None, None
    try:
        material = _certs.parse_material(data)
    except CertError:
        return None, "the key is not a readable private key"
    key = material["key"]
    if key is None:
        return None, "no private key found"
    if key["encrypted"]:
        return None, "the private key is encrypted; cannot check that it belongs to the leaf"
    if key["_spki"] is None:
        return None, "the key is not a readable private key"
    return key["_spki"], None


def build_verifier(*, ca_path=None, ca_content=None, at=None, min_days_remaining=0, min_rsa_bits=2048,
                   profile="webpki", crl_path=None, crl_content=None):
    """The shared part of a call: trust anchors, validation time, policy and profile, built once.

    With profile openssl the caller must close_verifier() it (it holds a temporary directory).
    """
    if min_rsa_bits < 512 or min_days_remaining < 0:
        raise CertError("INVALID_ARGUMENT", "min_rsa_bits must be >= 512 and min_days_remaining >= 0")
    if profile not in PROFILES:
        raise CertError("INVALID_ARGUMENT", "profile must be one of %s, not %r" % (", ".join(PROFILES), profile))
    refused = []
    anchors, at = load_anchors(ca_path=ca_path, ca_content=ca_content, refused=refused), parse_time(at)
    crls = load_crl_set(crl_path=crl_path, crl_content=crl_content)
    openssl = None
    if profile == "openssl":
        # OpenSSL also gets what cryptography could not load: it may read it, as the load balancer does
        openssl = _openssl.OpenSSLVerifier("".join(_certs.der_to_pem(_certs.der_of(a)) for a in anchors),
                                           at.replace(microsecond=0),
                                           unloaded=[block.decode("ascii", "replace") for block in refused])
    return Verifier(anchors, at=at, min_days_remaining=min_days_remaining, min_rsa_bits=min_rsa_bits,
                    openssl=openssl, crls=crls)


def _name_list(value):
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


DEFAULT_CHECKS = {"name_rule": None, "verify_depth": None, "check_chain": True, "check_expiry": True,
                  "crl_check": None, "crl_missing_ok": False, "security_level": None}
CHECK_OPTIONS = tuple(DEFAULT_CHECKS)


def check_options(item, defaults=None):
    """How the load balancer checks one chain: the item's check options over defaults (the call's), checked.

    name_rule: how names are matched (None: the profile's own: WebPKI, or OpenSSL's X509_check_host);
    verify_depth: at most that many intermediates between leaf and anchor (OpenSSL's count; None: no limit; -1:
    the leaf must itself be an anchor, as Apache's SSLProxyVerifyDepth 0 -- a check of the load balancer's own);
    check_chain false: the load balancer does not verify the chain, so only the names given (and with
    check_expiry, the leaf's dates) decide; crl_check none|leaf|chain: what it checks against its CRLs (None:
    chain when CRLs are given), crl_missing_ok: a certificate without a CRL of its issuer passes (Apache's
    no_crl_for_cert_ok); security_level 0-5: the load balancer's OpenSSL security level, where its cipher string
    sets one (@SECLEVEL=n), which decides the key sizes and signature hashes it accepts under profile openssl (None:
    the default, 2). CertError INVALID_ARGUMENT for a value out of range.
    """
    checks = dict(defaults or DEFAULT_CHECKS)
    checks.update((key, item[key]) for key in CHECK_OPTIONS if item.get(key) is not None)
    if checks["name_rule"] is not None and checks["name_rule"] not in _names.NAME_RULES:
        raise CertError("INVALID_ARGUMENT", "name_rule must be one of %s, not %r" % (
            ", ".join(_names.NAME_RULES), checks["name_rule"]))
    depth = checks["verify_depth"]
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or not -1 <= depth <= 100):
        raise CertError("INVALID_ARGUMENT", "verify_depth must be a whole number from -1 to 100 (intermediates "
                        "between the leaf and the anchor; -1: the leaf must itself be an anchor), not %r" % (depth,))
    if checks["crl_check"] is not None and checks["crl_check"] not in CRL_CHECKS:
        raise CertError("INVALID_ARGUMENT", "crl_check must be one of %s, not %r" % (
            ", ".join(CRL_CHECKS), checks["crl_check"]))
    level = checks["security_level"]
    if level is not None and (isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 5):
        raise CertError("INVALID_ARGUMENT", "security_level must be a whole number from 0 to 5 (OpenSSL's security "
                        "levels), not %r" % (level,))
    for key in ("check_chain", "check_expiry", "crl_missing_ok"):
        if not isinstance(checks[key], bool):
            raise CertError("INVALID_ARGUMENT", "%s must be true or false, not %r" % (key, checks[key]))
    return checks


def verify_item(verifier, item, checks=None, parsed=None):
    """One chain ({chain|path, server_names, intermediates, key_path|key_content, check options}) -> single-form
    result; checks: the call's check options, which the item's own override; parsed: the batch's parsed
    certificates (split_pem_certificates).

    A chain that cannot be read or parsed is a result with valid=false, a PARSE_ERROR finding and an
    `error`; it never raises.
    """
    try:
        chain, extra = _item_chain(item, parsed)
        spki, key_problem = key_spki(key_path=item.get("key_path"), key_content=item.get("key_content"))
        return verifier.verify(chain, server_names=_name_list(item.get("server_names")), intermediates=extra,
                               key_spki=spki, key_problem=key_problem, checks=check_options(item, checks))
    except CertError as exc:
        return error_result(exc)


def _item_chain(item, parsed=None):
    """(the chain as served, the extra intermediates) of an item, each [(der, Certificate)]; CertError when they
    cannot be read."""
    if item.get("path"):
        chain = split_pem_certificates(read_text(item["path"], what="chain file"), what=item["path"], parsed=parsed)
    elif item.get("chain"):
        chain = load_pem_list(item["chain"], what="chain", parsed=parsed)
    else:
        raise CertError("PARSE_ERROR", "the item has neither 'chain' nor 'path'")
    extra = load_pem_list(item["intermediates"], what="intermediates", parsed=parsed) \
        if item.get("intermediates") else []
    return chain, extra


def _openssl_queries(items, refused, checks, parsed):
    """What Verifier.verify will ask `openssl verify` for each item ((leaf DER, untrusted DERs, depth, level), as
    _apply_openssl asks it), so that OpenSSLVerifier.prefetch can answer many in one process. An item that cannot be
    read, or whose chain is not checked, asks nothing (its verify says why)."""
    out = []
    for index, item in enumerate(items):
        if index in refused:
            continue
        try:
            chain, extra = _item_chain(item, parsed)
            item_checks = check_options(item, checks)
        except CertError:
            continue
        if chain and item_checks["check_chain"]:
            depth = item_checks["verify_depth"]
            out.append((chain[0][0], [d for d, _c in chain[1:]] + [d for d, _c in extra],
                        None if depth is None else max(depth, 0), item_checks["security_level"]))
    return out


def error_result(exc):
    """The single-form result of an item that was not verified: valid=false, its `error` and a PARSE_ERROR finding."""
    return {"valid": False, "error": exc.as_dict(),
            "findings": [{"code": "PARSE_ERROR", "severity": ERROR, "message": exc.message, "subject": None,
                          "fingerprint_sha256": None, "role": None}],
            "verified_chain": [], "leaf": None, "days_remaining": None}


def compacted(result):
    """A valid result without its verified_chain (its leaf keeps the leaf's fingerprint); any other as it is."""
    if result["valid"]:
        result.pop("verified_chain", None)
    return result


def verify_single(item, checks=None, compact=False, **policy):
    checks = check_options(checks or {})  # the call's own: a bad value fails the call
    verifier = build_verifier(**policy)
    try:
        result = verify_item(verifier, item, checks)
        return dict(compacted(result) if compact else result, **describe_profile(verifier))
    finally:
        close_verifier(verifier)


def verify_batch(items, refused=None, checks=None, compact=False, **policy):
    """Every item verified with one verifier; refused maps an item's index to the CertError it gets instead.
    checks: the call's check options (check_options), which each item's own override; compact: valid items
    without their verified_chain (compacted).

    Under the openssl profile the chains are first verified by `openssl verify` in as few processes as their
    untrusted certificates allow (OpenSSLVerifier.prefetch); the items then run in a few threads, each waiting on
    its own process for what that did not answer.
    """
    checks = check_options(checks or {})
    verifier = build_verifier(**policy)
    refused = refused or {}
    parsed = {}  # shared by the items (and their threads: a block parsed twice is only wasted work)

    def one(indexed):
        index, item = indexed
        result = error_result(refused[index]) if index in refused else verify_item(verifier, item, checks, parsed)
        if compact:
            compacted(result)
        result["name"] = item.get("name") or "item%d" % index
        return result

    try:
        if verifier.openssl is not None and len(items) > 1:
            verifier.openssl.prefetch(_openssl_queries(items, refused, checks, parsed))
            with ThreadPoolExecutor(max_workers=min(8, 2 * (os.cpu_count() or 1))) as pool:
                results = list(pool.map(one, enumerate(items)))
        else:
            results = [one(indexed) for indexed in enumerate(items)]
    finally:
        close_verifier(verifier)
    codes = {}
    for result in results:
        for finding in result["findings"]:
            codes[finding["code"]] = codes.get(finding["code"], 0) + 1
    valid = sum(1 for r in results if r["valid"])
    return dict({"valid": valid == len(results), "results": results,
                 "summary": {"items": len(results), "valid": valid, "invalid": len(results) - valid,
                             "codes": codes}}, **describe_profile(verifier))


def describe_profile(verifier):
    """{profile, verifier}: whose rules gave the verdict, and which implementation."""
    if verifier.openssl is not None:
        return {"profile": "openssl", "verifier": verifier.openssl.version}
    return {"profile": "webpki", "verifier": "cryptography %s" % _cryptography_version()}


def close_verifier(verifier):
    if verifier.openssl is not None:
        verifier.openssl.close()


def _cryptography_version():
    import cryptography

    return cryptography.__version__
