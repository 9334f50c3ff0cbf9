# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The chain verdict of OpenSSL itself: what HAProxy, nginx and Apache accept from a backend.

Those load balancers verify a backend's chain with OpenSSL's X509_verify_cert, with the trust anchors
of their CA file, the sslserver purpose, the library's security level (2 on Debian and most
distributions: RSA and DH >= 2048 bits, no SHA-1 signatures) and no partial chains. The `openssl
verify` command runs that same code with the same settings, so its verdict is taken as it is:

    openssl verify -purpose sslserver -auth_level 2 -attime T -CAfile anchors -no-CApath [-no-CAstore]
                   [-verify_depth N] [-untrusted the other certificates] leaf

run with an argument list (no shell), one process per chain, on PEM files in a private temporary
directory (0700, removed at the end). Names are matched in Python by `_names.openssl_matches`, which is
OpenSSL's X509_check_host: one process per chain whatever the number of names.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

from ansible_collections.certops.backend_tls.plugins.module_utils import _certs
from ansible_collections.certops.backend_tls.plugins.module_utils._certs import CertError

SECURITY_LEVEL = 2
_ERROR_LINE = re.compile(r"^error (\d+) at (\d+) depth lookup: ?(.*)$")
TIMEOUT = 30
FALLBACK_PATHS = ("/usr/bin/openssl", "/usr/local/bin/openssl")  # PATH is minimal under some become methods

# X509_V_ERR_* -> finding codes. 2, 20 and 21 ("unable to get (local) issuer certificate") cannot tell a
# missing intermediate from an untrusted root: the diagnosis walk decides, so both are listed. 7 ("certificate
# signature failure") is a damaged signature, or a certificate of the issuer's name that did not sign it (a served
# intermediate from before the CA's key changed, a re-keyed root in the CA file): the walk tells which.
_CODES = {
    7: ("INVALID_CHAIN", "INCOMPLETE_CHAIN", "UNTRUSTED_ROOT"),
    9: ("NOT_YET_VALID",), 10: ("EXPIRED",), 13: ("PARSE_ERROR",), 14: ("PARSE_ERROR",),
    62: ("HOSTNAME_MISMATCH",), 64: ("HOSTNAME_MISMATCH",),
    18: ("SELF_SIGNED",), 19: ("UNTRUSTED_ROOT",), 27: ("UNTRUSTED_ROOT",), 28: ("UNTRUSTED_ROOT",),
    2: ("UNTRUSTED_ROOT", "INCOMPLETE_CHAIN"), 20: ("INCOMPLETE_CHAIN", "UNTRUSTED_ROOT"),
    21: ("INCOMPLETE_CHAIN", "UNTRUSTED_ROOT"),
    26: ("NOT_SERVER_AUTH", "INVALID_CHAIN"), 22: ("CHAIN_TOO_LONG",),
    66: ("WEAK_KEY",), 67: ("WEAK_KEY",), 68: ("WEAK_SIGNATURE",),
}


def codes_for(error):
    """The finding codes one OpenSSL error may stand for (INVALID_CHAIN when it has no closer one)."""
    return _CODES.get(error["code"], ("INVALID_CHAIN",))


def find_openssl():
    """The openssl command's path; CertError MISSING_DEPENDENCY when there is none."""
    path = shutil.which("openssl") or next((p for p in FALLBACK_PATHS if os.access(p, os.X_OK)), None)
    if path is None:
        raise CertError("MISSING_DEPENDENCY", "profile openssl needs the openssl command on the host that runs "
                        "cert_chain_verify (Debian/Ubuntu: apt-get install openssl; RHEL: dnf install openssl), "
                        "or use profile webpki")
    return path


class OpenSSLVerifier:
    """`openssl verify` with fixed anchors and validation time; verify() may run in several threads at once."""

    def __init__(self, anchors_pem, at, *, security_level=SECURITY_LEVEL, binary=None, unloaded=()):
        """unloaded: PEM blocks of the CA file that cryptography could not load; those OpenSSL reads are anchors too
        (a load balancer's OpenSSL trusts them), the others are left out (one would make OpenSSL refuse the file)."""
        self.binary = binary or find_openssl()
        version = subprocess.run([self.binary, "version"], capture_output=True, text=True, timeout=TIMEOUT,
                                 check=False, stdin=subprocess.DEVNULL)
        self.version = version.stdout.strip() or "unknown (%s)" % self.binary
        major = re.match(r"OpenSSL (\d+)\.", self.version)
        self.tmp = tempfile.mkdtemp(prefix="certops-verify-")  # 0700
        self.anchors = os.path.join(self.tmp, "anchors.pem")
        _write(self.anchors, anchors_pem + "".join(block for block in unloaded if self._reads(block)))
        seconds = int(at.timestamp())  # at is timezone-aware
        self.command = [self.binary, "verify", "-purpose", "sslserver", "-auth_level", str(security_level),
                        "-attime", str(seconds), "-CAfile", self.anchors, "-no-CApath"]
        if major and int(major.group(1)) >= 3:
            self.command.append("-no-CAstore")  # OpenSSL 3: or the default store would be trusted too

    def _reads(self, pem):
        try:
            return subprocess.run([self.binary, "x509", "-noout"], input=pem, capture_output=True, text=True,
                                  timeout=TIMEOUT, check=False).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def verify(self, leaf_der, untrusted_ders, tag, depth=None):
        """{ok, errors: [{code, depth, message, subject}]} for the leaf, with untrusted_ders to build the path.

        depth: at most that many intermediates between the leaf and the anchor (`-verify_depth`), as the load
        balancer's verify depth allows; None is OpenSSL's default (100).
        """
        leaf = os.path.join(self.tmp, "leaf-%s.pem" % tag)
        command = list(self.command)
        if depth is not None:
            command += ["-verify_depth", str(int(depth))]
        files = [leaf]
        _write(leaf, _certs.der_to_pem(leaf_der))
        if untrusted_ders:
            untrusted = os.path.join(self.tmp, "untrusted-%s.pem" % tag)
            _write(untrusted, "".join(_certs.der_to_pem(der) for der in untrusted_ders))
            command += ["-untrusted", untrusted]
            files.append(untrusted)
        try:
            proc = subprocess.run(command + [leaf], capture_output=True, text=True, timeout=TIMEOUT, check=False,
                                  stdin=subprocess.DEVNULL, errors="replace")
        except subprocess.TimeoutExpired:
            raise CertError("TIMEOUT", "openssl verify did not answer within %d s" % TIMEOUT)
        finally:
            for path in files:
                os.unlink(path)
        errors = parse_errors(proc.stderr + proc.stdout)
        if proc.returncode == 0:
            return {"ok": True, "errors": []}
        if not errors:  # a usage or load error, not a verdict
            raise CertError("PARSE_ERROR", "openssl verify could not check the chain: %s" % (
                proc.stderr.strip().splitlines() or ["exit code %d" % proc.returncode])[-1])
        return {"ok": False, "errors": errors}


def parse_errors(output):
    """`openssl verify` output -> [{code, depth, message, subject}] (subject: the line before the error)."""
    errors, previous = [], None
    for line in output.splitlines():
        match = _ERROR_LINE.match(line.strip())
        if match:
            errors.append({"code": int(match.group(1)), "depth": int(match.group(2)),
                           "message": match.group(3).strip(), "subject": previous})
        elif line.strip() and not line.startswith("error "):
            previous = line.strip()
    return errors


def _write(path, text):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
        handle.write(text)
