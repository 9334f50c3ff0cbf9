"""A small PKI for tests, the lab and benchmarks: every certificate is generated here with cryptography."""

from __future__ import annotations

import datetime
import ipaddress
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = datetime.timezone.utc
_KEY_CACHE: dict = {}


def now():
    return datetime.datetime.now(UTC).replace(microsecond=0)


def new_key(kind="ec", size=None, cache_slot=None):
    """EC P-256 by default (fast); RSA, Ed25519 or Ed448 when asked. cache_slot reuses a key across calls
    (benchmarks)."""
    if cache_slot is not None and (kind, size, cache_slot) in _KEY_CACHE:
        return _KEY_CACHE[(kind, size, cache_slot)]
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=size or 2048)
    elif kind in ("ed25519", "ed448"):
        key = {"ed25519": ed25519.Ed25519PrivateKey, "ed448": ed448.Ed448PrivateKey}[kind].generate()
    else:
        key = ec.generate_private_key({None: ec.SECP256R1(), 256: ec.SECP256R1(), 384: ec.SECP384R1(),
                                       192: ec.SECP192R1()}[size])
    if cache_slot is not None:
        _KEY_CACHE[(kind, size, cache_slot)] = key
    return key


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Issued:
    def __init__(self, cert, key):
        self.cert = cert
        self.key = key

    @property
    def pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def der(self):
        return self.cert.public_bytes(serialization.Encoding.DER)

    def key_pem(self, password=None):
        enc = (serialization.BestAvailableEncryption(password) if password
               else serialization.NoEncryption())
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      enc).decode()

    @property
    def fingerprint(self):
        return self.cert.fingerprint(hashes.SHA256()).hex()


def issue(cn, *, issuer=None, ca=False, names=None, ips=None, days=90, start_days=-1, key=None,
          path_length=None, hash_alg=None, eku=(ExtendedKeyUsageOID.SERVER_AUTH,), ski=True, aki=True,
          aia_issuers=None, serial=None, extensions=(), crl_sign=True):
    """A certificate; self-signed when issuer is None. names/ips become SANs (leaf default: [cn])."""
    key = key or new_key()
    start = now() + datetime.timedelta(days=start_days)
    signer_key = issuer.key if issuer else key
    signer_name = issuer.cert.subject if issuer else _name(cn)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(cn)).issuer_name(signer_name).public_key(key.public_key())
               .serial_number(serial or x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days)))
    builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None),
                                    critical=True)
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=crl_sign, encipher_only=False, decipher_only=False),
            critical=True)
    else:
        sans = [x509.DNSName(n) for n in (names if names is not None else [cn])]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips or []]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=isinstance(key, rsa.RSAPrivateKey),
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if ski:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    if aki:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), critical=False)
    if aia_issuers:
        builder = builder.add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                                   x509.UniformResourceIdentifier(url)) for url in aia_issuers]), critical=False)
    for extension, critical in extensions:  # (x509 extension value, critical): any other the test needs
        builder = builder.add_extension(extension, critical=critical)
    # Ed25519 and Ed448 sign without a separate hash
    eddsa = isinstance(signer_key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey))
    cert = builder.sign(signer_key, None if eddsa else hash_alg or hashes.SHA256())
    return Issued(cert, key)


class CA:
    """Root + intermediate, issuing leaves: what a real internal CA looks like."""

    def __init__(self, name="Test", key_slot=None):
        self.root = issue("%s Root CA" % name, ca=True, days=3650, key=new_key(cache_slot=key_slot and key_slot + "r"))
        self.intermediate = issue("%s Intermediate CA" % name, issuer=self.root, ca=True, path_length=0,
                                  days=1825, key=new_key(cache_slot=key_slot and key_slot + "i"),
                                  aia_issuers=["http://pki.example.test/root.der"])

    def leaf(self, cn, **kwargs):
        kwargs.setdefault("aia_issuers", ["http://pki.example.test/intermediate.der"])
        return issue(cn, issuer=self.intermediate, **kwargs)

    def save(self, directory):
        """root/intermediate certificate and key files (keys 0600) so another process can issue from it."""
        directory = pathlib.Path(directory)
        for name, issued in (("root", self.root), ("intermediate", self.intermediate)):
            write(directory / ("%s.pem" % name), issued.pem)
            write(directory / ("%s.key" % name), issued.key_pem(), 0o600)

    @classmethod
    def load(cls, directory):
        directory = pathlib.Path(directory)
        ca = cls.__new__(cls)
        loaded = []
        for name in ("root", "intermediate"):
            cert = x509.load_pem_x509_certificate((directory / ("%s.pem" % name)).read_bytes())
            key = serialization.load_pem_private_key((directory / ("%s.key" % name)).read_bytes(), None)
            loaded.append(Issued(cert, key))
        ca.root, ca.intermediate = loaded
        return ca

    @property
    def root_pem(self):
        return self.root.pem

    def chain_pem(self, leaf):
        return leaf.pem + self.intermediate.pem


def crl(issuer, revoked=(), *, last=-1, following=7, signer=None, aki=True, extensions=(), hash_alg=None,
        name=None, reasons=None, entry_extensions=None):
    """A certificate revocation list in issuer's name (a pki.Issued), revoking `revoked` (Issued or serial numbers),
    issued `last` and next due `following` days from now (both may be in the past), with the CRL number and (aki) the
    authority key identifier a CA writes, and any other (extension, critical); signed by signer's key (issuer's own
    unless given: a forgery) with hash_alg (SHA-256 unless given); name: the issuer name written (issuer's subject
    unless given); reasons: {serial: x509.ReasonFlags} for entries; entry_extensions: {serial: [(extension,
    critical)]} for entries, in the order of `revoked`. aki may be an x509.AuthorityKeyIdentifier to write as it is. A
    cryptography CertificateRevocationList: crl_pem() gives its text."""
    signer = signer or issuer
    at = now()
    builder = (x509.CertificateRevocationListBuilder().issuer_name(name or issuer.cert.subject)
               .last_update(at + datetime.timedelta(days=last)).next_update(at + datetime.timedelta(days=following))
               .add_extension(x509.CRLNumber(1), False))
    if isinstance(aki, x509.AuthorityKeyIdentifier):
        builder = builder.add_extension(aki, False)
    elif aki:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.key.public_key()), False)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    for entry in revoked:
        serial = entry if isinstance(entry, int) else entry.cert.serial_number
        revoked_entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(
            at - datetime.timedelta(hours=1))
        if (reasons or {}).get(serial) is not None:
            revoked_entry = revoked_entry.add_extension(x509.CRLReason(reasons[serial]), False)
        for extension, critical in (entry_extensions or {}).get(serial, ()):
            revoked_entry = revoked_entry.add_extension(extension, critical)
        builder = builder.add_revoked_certificate(revoked_entry.build())
    eddsa = isinstance(signer.key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey))
    return builder.sign(signer.key, None if eddsa else hash_alg or hashes.SHA256())


def crl_pem(revocation_list):
    return revocation_list.public_bytes(serialization.Encoding.PEM).decode()


def write(path, text, mode=0o644):
    """Write text (or bytes) to path with a mode; returns the path as a string."""
    path = pathlib.Path(path)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    path.chmod(mode)
    return str(path)


def openssl_crl_verdict(workdir, chain, crls, mode, ca):
    """(accepted, [error numbers]) of the real `openssl verify` as a load balancer's OpenSSL checks a served chain
    against its CRLs: its CA file (ca, PEM), the served intermediates untrusted, the CRLs (PEM), `-crl_check` (mode
    leaf) or `-crl_check_all` (mode chain), the TLS server purpose. Files written in workdir."""
    import re
    import subprocess

    workdir = pathlib.Path(workdir)
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", chain, re.S)
    paths = {}
    for name, text in (("ca", ca), ("leaf", blocks[0]), ("untrusted", "".join(blocks[1:]) or blocks[0]),
                       ("crls", crls)):
        paths[name] = workdir / ("%s.pem" % name)
        paths[name].write_text(text)
    proc = subprocess.run(["openssl", "verify", "-purpose", "sslserver", "-CAfile", str(paths["ca"]), "-no-CApath",
                           "-untrusted", str(paths["untrusted"]), "-CRLfile", str(paths["crls"]),
                           "-crl_check" if mode == "leaf" else "-crl_check_all", str(paths["leaf"])],
                          capture_output=True, text=True, check=False)
    return proc.returncode == 0, [int(n) for n in re.findall(r"^error (\d+) at", proc.stdout + proc.stderr, re.M)]


def openssl_root(cn, workdir, days=3650):
    """A private root made the way most people make one: `openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=..`
    and nothing else but a lifetime. OpenSSL 3 gives it basicConstraints, SKI and AKI, but no keyUsage."""
    import subprocess

    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cert, key = workdir / "root.pem", workdir / "root.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=%s" % cn,
                    "-days", str(days), "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    key.chmod(0o600)
    return Issued(x509.load_pem_x509_certificate(cert.read_bytes()),
                  serialization.load_pem_private_key(key.read_bytes(), None))


def issue_sha1(cn, *, issuer, workdir):
    """A leaf signed with SHA-1 by issuer. cryptography >= 48 refuses to sign with SHA-1, so the
    openssl CLI signs it (the test still generates every byte itself)."""
    import subprocess

    workdir = pathlib.Path(workdir)
    key = new_key()
    write(workdir / "issuer.key", issuer.key_pem(), 0o600)
    write(workdir / "issuer.crt", issuer.pem)
    write(workdir / "leaf.key", Issued(None, key).key_pem(), 0o600)
    (workdir / "ext.cnf").write_text("subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n"
                                     "authorityKeyIdentifier=keyid\nbasicConstraints=critical,CA:FALSE\n" % cn)
    subprocess.run(["openssl", "req", "-new", "-key", str(workdir / "leaf.key"), "-subj", "/CN=%s" % cn,
                    "-out", str(workdir / "leaf.csr")], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(workdir / "leaf.csr"), "-CA", str(workdir / "issuer.crt"),
                    "-CAkey", str(workdir / "issuer.key"), "-sha1", "-days", "30", "-set_serial", "4242",
                    "-extfile", str(workdir / "ext.cnf"), "-out", str(workdir / "leaf.crt")],
                   check=True, capture_output=True)
    cert = x509.load_pem_x509_certificate((workdir / "leaf.crt").read_bytes())
    return Issued(cert, key)
