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

run with an argument list (no shell), on PEM files in a private temporary directory (0700, removed at the end).
Names are matched in Python by `_names.openssl_matches`, which is OpenSSL's X509_check_host: one verification per
chain whatever the number of names.

A batch (prefetch) verifies many leaves that share their untrusted certificates and depth in one process: `openssl
verify` takes several files and ends each one's output with `<file>: OK` or `error <file>: verification failed`.
Its verdict lines go to stdout and its error lines to stderr, so the process writes both to one pseudo-terminal,
where they stay in the order it wrote them (stdout is line-buffered there, stderr unbuffered), and each file's
errors are the lines before its own verdict line. Any output that does not split that way (a file without its
verdict line, a verdict without the errors that say why) leaves those leaves to a process of their own, as before.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import subprocess
import tempfile
import time

from ansible_collections.certops.backend_tls.plugins.module_utils import _certs
from ansible_collections.certops.backend_tls.plugins.module_utils._certs import CertError

SECURITY_LEVEL = 2
_ERROR_LINE = re.compile(r"^error (\d+) at (\d+) depth lookup: ?(.*)$")
_QUEUE_LINE = re.compile(r"^[0-9A-Fa-f]+:error:")  # ERR_print_errors: <thread id>:error:<code>:<library>:...
TIMEOUT = 30
FALLBACK_PATHS = ("/usr/bin/openssl", "/usr/local/bin/openssl")  # PATH is minimal under some become methods
BATCH_FILES = 256  # leaves per `openssl verify` process in a batch (each a short path: far below any ARG_MAX)

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


def _outcome_key(leaf, untrusted, depth, level):
    """How a prefetched outcome is kept: (leaf DER, untrusted DERs, depth), and the security level when one is set."""
    return (leaf, untrusted, depth) if level is None else (leaf, untrusted, depth, level)


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
        # _outcome_key -> outcome: filled by prefetch() before the items' threads start, then
        # only read
        self._prefetched = {}

    def _reads(self, pem):
        try:
            return subprocess.run([self.binary, "x509", "-noout"], input=pem, capture_output=True, text=True,
                                  timeout=TIMEOUT, check=False).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _command(self, untrusted_ders, depth, tag, level=None):
        """(the command before the leaves, [the files it names]) for these untrusted certificates, depth and
        security level (None: the verifier's own)."""
        command = list(self.command)
        if level is not None:
            command[command.index("-auth_level") + 1] = str(int(level))
        if depth is not None:
            command += ["-verify_depth", str(int(depth))]
        files = []
        if untrusted_ders:
            untrusted = os.path.join(self.tmp, "untrusted-%s.pem" % tag)
            _write(untrusted, "".join(_certs.der_to_pem(der) for der in untrusted_ders))
            command += ["-untrusted", untrusted]
            files.append(untrusted)
        return command, files

    def prefetch(self, queries):
        """Verify [(leaf DER, untrusted DERs, depth[, security level])] ahead of the verify() calls that will ask for
        them: the leaves that share their untrusted certificates, depth and level in one process (BATCH_FILES at
        most), each outcome kept for its verify() call. A leaf whose outcome the batch's output does not give is left
        to verify()."""
        groups = {}
        for leaf, untrusted, depth, *level in queries:
            groups.setdefault((tuple(untrusted), depth, level[0] if level else None), {})[leaf] = None
        for index, ((untrusted, depth, level), distinct) in enumerate(groups.items()):
            leaves = list(distinct)
            if len(leaves) < 2:  # one process either way
                continue
            for start in range(0, len(leaves), BATCH_FILES):
                part = leaves[start:start + BATCH_FILES]
                outcomes = self._verify_many(part, untrusted, depth, "batch%d-%d" % (index, start), level)
                for leaf, outcome in zip(part, outcomes):
                    if outcome is not None:
                        self._prefetched[_outcome_key(leaf, untrusted, depth, level)] = outcome

    def _verify_many(self, leaves, untrusted_ders, depth, tag, level=None):
        """[outcome or None] for each leaf, from one `openssl verify` over them all (see the module docstring)."""
        paths = [os.path.join(self.tmp, "leaf-%s-%d.pem" % (tag, i)) for i in range(len(leaves))]
        files = []
        try:
            command, files = self._command(untrusted_ders, depth, tag, level)
            for path, leaf in zip(paths, leaves):
                _write(path, _certs.der_to_pem(leaf))
                files.append(path)
            output = _run_on_terminal(command + paths, TIMEOUT)
        except (OSError, subprocess.SubprocessError, CertError):
            return [None] * len(leaves)  # each leaf then gets a process of its own
        finally:
            for path in files:
                os.unlink(path)
        return split_outcomes(output, paths)

    def verify(self, leaf_der, untrusted_ders, tag, depth=None, level=None):
        """{ok, errors: [{code, depth, message, subject}]} for the leaf, with untrusted_ders to build the path.

        depth: at most that many intermediates between the leaf and the anchor (`-verify_depth`), as the load
        balancer's verify depth allows; None is OpenSSL's default (100). level: the load balancer's security level
        (`-auth_level`, as its cipher string's @SECLEVEL sets it); None: the verifier's own. A prefetched outcome is
        taken as it is.
        """
        known = self._prefetched.get(_outcome_key(leaf_der, tuple(untrusted_ders), depth, level))
        if known is not None:
            return known
        leaf = os.path.join(self.tmp, "leaf-%s.pem" % tag)
        command, files = self._command(untrusted_ders, depth, tag, level)
        files.append(leaf)
        _write(leaf, _certs.der_to_pem(leaf_der))
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


def _run_on_terminal(command, timeout):
    """What the command writes to stdout and stderr, in the order it wrote it: both are one pseudo-terminal. CertError
    TIMEOUT after `timeout` seconds (the process is killed)."""
    import pty  # POSIX only; imported here so that the module loads everywhere

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, close_fds=True)
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    waiting = selectors.DefaultSelector()  # poll or epoll where there is one: no FD_SETSIZE limit
    waiting.register(master, selectors.EVENT_READ)
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CertError("TIMEOUT", "openssl verify did not answer within %d s" % timeout)
            if not waiting.select(left):
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the process closed its end (Linux)
                break
            if not chunk:  # end of file (the BSDs)
                break
            chunks.append(chunk)
        proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        waiting.close()
        os.close(master)
        if proc.poll() is None:  # timed out: stopped, and reaped
            proc.kill()
            proc.wait()
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def split_outcomes(output, paths):
    """`openssl verify` output over several files -> [outcome or None] per path, in order: each file's lines end
    with its verdict line; an outcome is None where the output does not split that way, or where a failed file has
    no error line (a load error, not a verdict: verify() says so for it)."""
    outcomes, lines = [], output.splitlines()
    position = 0
    for path in paths:
        ok_line, failed_line = "%s: OK" % path, "error %s: verification failed" % path
        block = []
        while position < len(lines) and lines[position].strip() not in (ok_line, failed_line):
            block.append(lines[position])
            position += 1
        if position == len(lines):
            return outcomes + [None] * (len(paths) - len(outcomes))
        verdict = lines[position].strip()
        position += 1
        errors = parse_errors("\n".join(block))
        if verdict == ok_line:
            outcomes.append({"ok": True, "errors": []})
        else:
            outcomes.append({"ok": False, "errors": errors} if errors else None)
    return outcomes


def parse_errors(output):
    """`openssl verify` output -> [{code, depth, message, subject}]. subject: the line just before the error line,
    where `openssl verify` prints the certificate's subject; None when that line is no subject (another error line,
    or a line of OpenSSL's error queue, which it prints after a file's verdict)."""
    errors, previous = [], None
    for line in output.splitlines():
        text = line.strip()
        match = _ERROR_LINE.match(text)
        if match:
            errors.append({"code": int(match.group(1)), "depth": int(match.group(2)),
                           "message": match.group(3).strip(), "subject": previous})
            previous = None
        elif text:
            previous = None if text.startswith("error ") or _QUEUE_LINE.match(text) else text
    return errors


def _write(path, text):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
        handle.write(text)
