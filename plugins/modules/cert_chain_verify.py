#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cert_chain_verify
short_description: Judge a certificate chain the way the load balancer does, and say exactly why it fails
version_added: 0.1.0
description:
  - Validates a chain (leaf first, as a backend serves it) against the trust anchors and the names the load
    balancer uses, with C(cryptography.x509.verification) (RFC 5280 and WebPKI path building and validation).
  - Around that verdict, reports each problem as a finding with a code, the certificate it concerns and what to do,
    for example a missing intermediate named by subject, key identifier and AIA URL.
  - The batch form (O(items)) verifies any number of chains with one trust store and policy, in one call.
  - Accepts what M(certops.backend_tls.backend_cert_info) returns, so a backend's served chain
    (C(endpoints[].chain_pem), returned when that module's O(certops.backend_tls.backend_cert_info#module:chain_pem)
    is set) can be verified on the controller.
  - Never changes anything; never fails the task for one bad chain unless O(fail_on_invalid) is set.
author:
  - certops maintainers (@certops)
extends_documentation_fragment:
  - certops.backend_tls.cryptography_dep.VERIFY
  - certops.backend_tls.attributes.READ_ONLY
attributes:
  action:
    support: partial
    description: On the controller with the Python running Ansible it runs in Ansible's own process (see the notes).
options:
  chain:
    description:
      - The chain as served, leaf first, as PEM text (many blocks) or a list of PEM texts.
      - Mutually exclusive with O(path) and O(items).
    type: raw
  path:
    description: A PEM bundle file holding the chain, leaf first.
    type: path
  items:
    description:
      - Batch form. Each item is a dict with V(name), V(chain) or V(path), and optionally V(server_names),
        V(key_path), V(key_content) and V(intermediates). All items share the trust anchors and policy options.
      - Returns RV(results), one single-form result per item (with its V(name)), and RV(valid) (all items valid).
      - V(key_content) of every item is treated as a secret, never logged (to syslog or the journal) or returned.
    type: list
    elements: dict
    suboptions:
      name:
        description: A name for the item, returned with its result. Defaults to V(item<index>).
        type: str
      chain:
        description: The chain as served, leaf first, PEM text or a list of PEM texts, as O(chain).
        type: raw
      path:
        description: A PEM bundle file holding the chain, as O(path).
        type: path
      server_names:
        description: The names the load balancer asks for, as O(server_names).
        type: list
        elements: str
      key_path:
        description: A private key file that must belong to the leaf, as O(key_path).
        type: path
      key_content:
        description: A private key as PEM text that must belong to the leaf, as O(key_content).
        type: str
      intermediates:
        description: Extra untrusted intermediate certificates for this item, as O(intermediates).
        type: list
        elements: str
      name_rule:
        description:
          - How this item's load balancer matches names, V(openssl), V(haproxy), V(apache) or V(apache_cn), as
            O(name_rule) (which it overrides). Null takes O(name_rule), so an C(lb_backends[].verify_options) of
            M(certops.backend_tls.lb_backend_info) can be merged into the item as it is; another value is the item's
            V(INVALID_ARGUMENT) error.
        type: str
      verify_depth:
        description: This item's load balancer's verify depth, as O(verify_depth) (which it overrides).
        type: int
      check_chain:
        description: Whether this item's load balancer verifies the chain, as O(check_chain) (which it overrides).
        type: bool
      check_expiry:
        description: As O(check_expiry), for this item (overrides it).
        type: bool
      crl_check:
        description:
          - What this item's load balancer checks against its CRLs, V(none), V(leaf) or V(chain), as O(crl_check)
            (which it overrides). Null takes O(crl_check), as for V(name_rule); another value is the item's
            V(INVALID_ARGUMENT) error.
        type: str
        version_added: 0.2.0
      crl_missing_ok:
        description: As O(crl_missing_ok), for this item (overrides it).
        type: bool
        version_added: 0.2.0
      security_level:
        description: As O(security_level), for this item (overrides it).
        type: int
        version_added: 0.2.0
  ca_path:
    description:
      - The trust anchors the load balancer uses, a PEM file or a directory of PEM files.
      - Defaults to the system trust store of the host the module runs on.
    type: path
  ca_content:
    description: The trust anchors as PEM text.
    type: str
  crl_path:
    description:
      - The load balancer's certificate revocation lists, a file of PEM CRLs (any number, as its C(crl-file),
        C(proxy_ssl_crl) or C(SSLProxyCARevocationFile) holds them) or one DER CRL.
      - With O(crl_content) too, both are used. A file without a CRL, or with a damaged one, is V(INVALID_ARGUMENT).
    type: path
    version_added: 0.2.0
  crl_content:
    description:
      - The load balancer's certificate revocation lists as PEM text (C(crls) of
        M(certops.backend_tls.lb_backend_info); C(lb_verify_items) hands them over as C(crl_content)).
    type: str
    version_added: 0.2.0
  intermediates:
    description: Extra untrusted intermediate certificates (PEM texts) that may complete the chain.
    type: list
    elements: str
  server_names:
    description:
      - DNS names or IP addresses the load balancer asks for; every one must match the leaf.
      - Written as users write them. An internationalised name is checked as its A-label (V(bücher.example) as
        V(xn--bcher-kva.example)), converted as IDNA 2008 (UTS 46 non-transitional) converts it, as browsers and
        curl do (V(faß.example) is V(xn--fa-hia.example), not V(fass.example)); case does not matter, a trailing
        dot is dropped, an IPv6 address may be in brackets. A wildcard name (V(*.example.com), as in an nginx
        C(server_name)) must be covered by the same wildcard in the leaf.
      - An empty name, one with spaces, empty labels or a leading dot, or a wildcard anywhere but the whole
        left-most label is V(INVALID_ARGUMENT) (an item's error in batch form); so is a U-label whose A-label
        depends on the client (a zero-width joiner or non-joiner not after a virama, capital sharp s), whose
        A-label must be given instead.
    type: list
    elements: str
  key_path:
    description: A private key file; checks that it belongs to the leaf. The key is never returned.
    type: path
  key_content:
    description: A private key as PEM text; checks that it belongs to the leaf.
    type: str
  at:
    description:
      - Validation time, ISO 8601 (V(2026-12-01), V(2026-12-01T10:00:00Z)) or relative to now (V(+30d), V(-2h), V(+1w)).
      - Defaults to now.
      - A value that is neither, or that falls outside the years 1 to 9999, fails the task with V(INVALID_ARGUMENT).
    type: str
  min_days_remaining:
    description:
      - Report V(EXPIRES_SOON) (a warning) when fewer days than this remain along RV(verified_chain), the CA file's
        certificates included up to its self-signed root.
    type: int
    default: 0
  min_rsa_bits:
    description: RSA keys shorter than this are V(WEAK_KEY).
    type: int
    default: 2048
  fail_on_invalid:
    description: Fail the task when a chain is not valid (after returning every result).
    type: bool
    default: false
  profile:
    description:
      - Whose rules decide validity.
      - V(openssl) is what OpenSSL-based load balancers (HAProxy, nginx C(proxy_ssl_verify), Apache
        C(SSLProxyVerify)) accept. The chain's verdict is that of the C(openssl verify) command on the host running
        the module, with the settings those load balancers use (purpose sslserver, security level 2, no partial
        chains, only the given trust anchors), and names are matched as OpenSSL's C(X509_check_host) does (the CN
        only when the leaf has no DNS name). What only the strict rules reject becomes a warning that says so
        (C(accepted by OpenSSL; a WebPKI client would reject) and the reason). Needs the C(openssl) command (OpenSSL >= 1.1.1).
        Under V(openssl), O(min_rsa_bits) is replaced by OpenSSL's security level 2 (RSA and DH keys of at least
        2048 bits, no SHA-1 signatures).
      - With V(openssl), the O(items) whose chains carry the same intermediates are verified together, up to 256
        leaves in one C(openssl verify) process (300 chains of one CA, in-process, 2026-12-05, took 0.37 s against
        1.08 s with a process per chain); each verdict is the one a process of its own gives.
      - V(webpki) is the strict rules of public TLS clients (cryptography's verifier and the strict RFC 5280 rules
        in the notes); the default, as before this option existed.
      - The role M(certops.backend_tls.cert_remediation) uses V(openssl) by default.
    type: str
    choices: [openssl, webpki]
    default: webpki
  name_rule:
    description:
      - >-
        How the load balancer matches a name against the leaf, where it differs from the profile's own rule
        (WebPKI for V(webpki), OpenSSL's C(X509_check_host) or C(X509_check_ip) for V(openssl)). The name is then
        compared as given (all three load balancers refuse C(a.test.) for a SAN C(a.test)).
      - >-
        V(openssl) is nginx (C(X509_check_host) for every name, so an IP address is compared as text, never with
        the IP SANs); V(haproxy) is HAProxy's own check (every DNS name and every subject CN, even with DNS names;
        an IP address compared as text; partial wildcards); V(apache) is mod_ssl's C(SSLProxyCheckPeerName) (DNS
        names and CN; whole-label wildcards); V(apache_cn) is the legacy C(SSLProxyCheckPeerCN) (the first CN
        only). M(certops.backend_tls.lb_backend_info) reports each backend's rule
        (C(lb_backends[].verify_options.name_rule)); the rules were measured on the real servers.
      - >-
        A name the rule accepts but a WebPKI client would not is a V(HOSTNAME_MISMATCH) warning that says so; a
        leaf without subjectAltName is then only a V(NO_SAN) warning. A name that is no DNS name a client could send
        (HAProxy's C(verifyhost *.test), which HAProxy compares as text) is the rule's alone; without a rule it is
        the item's V(PARSE_ERROR).
      - Unset, the profile decides.
    type: str
    choices: [openssl, haproxy, apache, apache_cn]
  verify_depth:
    description:
      - >-
        At most this many intermediate certificates between the leaf and the trust anchor (in OpenSSL's count:
        neither the leaf nor the anchor counts), as the load balancer's verify depth allows; a longer path is
        V(CHAIN_TOO_LONG). nginx's C(proxy_ssl_verify_depth N) is V(N); Apache's C(SSLProxyVerifyDepth N) counts
        the anchor and is V(N-1); M(certops.backend_tls.lb_backend_info) gives the value converted
        (C(lb_backends[].verify_options.verify_depth)).
      - >-
        V(-1) is Apache's C(SSLProxyVerifyDepth 0): only a leaf that is itself a trust anchor (a self-signed
        certificate the CA file holds) is accepted; any certificate above the leaf, even an anchor that issued it,
        is V(CHAIN_TOO_LONG). OpenSSL alone would accept a leaf issued by an anchor here; Apache's own check does
        not, so under O(profile=openssl) that finding stands beside OpenSSL's verdict.
      - Unset, no limit (HAProxy sets none, so OpenSSL's default of 100 applies).
    type: int
  check_chain:
    description:
      - >-
        Whether the load balancer verifies the chain at all. V(false) is a pool with C(verify none) (HAProxy),
        C(proxy_ssl_verify off) (nginx) or C(SSLProxyVerify none) (Apache): the chain's findings are reported
        with severity V(info) (prefixed C(not checked by the load balancer)), so they do not make the chain
        invalid, except the names given in O(server_names) (pass only the names the load balancer still checks:
        Apache's, none for HAProxy or nginx), a key that does not match, and with O(check_expiry) the leaf's own
        dates.
      - With V(false), RV(days_remaining) is the leaf's.
    type: bool
    default: true
  check_expiry:
    description:
      - >-
        With O(check_chain=false), whether the leaf's dates still count (Apache's C(SSLProxyCheckPeerExpire), on
        by default). Ignored when the chain is verified (its dates always count then).
    type: bool
    default: true
  crl_check:
    description:
      - >-
        What the load balancer checks against its CRLs: V(none); V(leaf), the leaf only (Apache's
        C(SSLProxyCARevocationCheck leaf), OpenSSL's C(-crl_check)); V(chain), every certificate of the chain
        OpenSSL builds, up to and including its self-signed root, even past an intermediate the CA file holds
        (HAProxy's C(crl-file), nginx's C(proxy_ssl_crl), Apache's C(SSLProxyCARevocationCheck chain), OpenSSL's
        C(-crl_check_all)). Each certificate is checked against a CRL of its issuer (its own, for a self-signed
        one), picked as OpenSSL picks it: the issuer's name (compared as OpenSSL compares names) and key, in scope
        for the certificate (issuing distribution point), current, the newest. V(REVOKED) when it lists the
        certificate; V(CRL_MISSING) when there is none; V(CRL_EXPIRED) when it is past its next update (the load
        balancer then refuses every chain it covers); V(CRL_INVALID) for a CRL not yet valid, not signed by the
        issuer's key, out of scope, with a critical extension OpenSSL does not handle, or from an issuer without
        cRLSign.
      - Unset, V(chain) when O(crl_path) or O(crl_content) is given, else V(none). V(leaf) or V(chain) with no CRL
        given is an V(info) finding V(REVOCATION_UNCHECKED) (nothing is guessed).
      - Revocation is checked by this module under both profiles (OpenSSL is not given the CRLs); under
        O(profile=openssl) its findings stand beside OpenSSL's verdict, as the load balancer's own checks.
        Delta CRLs are not read; an indirect or reason-partitioned CRL counts as none, as for OpenSSL without
        extended CRL support.
    type: str
    choices: [none, leaf, chain]
    version_added: 0.2.0
  crl_missing_ok:
    description:
      - A certificate whose issuer has no CRL passes (Apache's C(SSLProxyCARevocationCheck ... no_crl_for_cert_ok)).
    type: bool
    default: false
    version_added: 0.2.0
  security_level:
    description:
      - The load balancer's OpenSSL security level, 0 to 5, where its cipher string sets one (C(@SECLEVEL=n), as in
        nginx's C(proxy_ssl_ciphers DEFAULT:@SECLEVEL=1), the usual way to reach a legacy backend). It decides
        which key sizes and signature hashes OpenSSL accepts in the chain (level 0 takes SHA-1 and 1024-bit RSA,
        level 3 refuses 2048-bit RSA). M(certops.backend_tls.lb_backend_info) reads it
        (C(lb_backends[].verify_options.security_level)).
      - Applies under O(profile=openssl) (C(openssl verify -auth_level)); unset, the default, 2. Under
        O(profile=webpki) the WebPKI's own rules decide.
    type: int
    version_added: 0.2.0
  compact:
    description:
      - Return valid chains without RV(verified_chain) (their RV(leaf) still names the leaf by its fingerprint);
        an invalid chain keeps everything. For batches over a fleet, whose callers read the failures.
      - For a batch of valid chains the result is about half the size (measured with 1,000 chains of three).
    type: bool
    default: false
    version_added: 0.2.0
notes:
  - "Finding codes: V(EXPIRED), V(NOT_YET_VALID), V(EXPIRES_SOON) (warning), V(HOSTNAME_MISMATCH), V(INCOMPLETE_CHAIN),
    V(UNTRUSTED_ROOT), V(WRONG_ORDER) (error when the leaf is not first, warning for intermediates out of path order),
    V(DUPLICATE_CERT) (warning), V(UNNEEDED_CERT) (warning), V(ROOT_INCLUDED) (info), V(SELF_SIGNED), V(KEY_MISMATCH),
    V(WEAK_KEY), V(WEAK_SIGNATURE), V(NOT_SERVER_AUTH), V(NO_SAN), V(PARSE_ERROR), V(CHAIN_TOO_LONG) (longer than
    O(verify_depth)), V(REVOKED), V(CRL_MISSING), V(CRL_EXPIRED), V(CRL_INVALID) (see O(crl_check)),
    V(REVOCATION_UNCHECKED) (info), V(INVALID_CHAIN) (anything else, with the verifier's message or the RFC 5280
    rule broken)."
  - A chain is valid when it has no finding of severity V(error).
  - "Invalid arguments fail the task with C(error: {code: INVALID_ARGUMENT, message}). A PEM private key in any
    option other than O(key_content) or an item's V(key_content) (for example pasted into O(chain)) is such an error;
    in an item of O(items) it is that item's C(error) (the other items are verified). The key is masked in what the
    module logs and returns."
  - "O(profile=openssl) where no C(openssl) command is found fails the task with C(error: {code: MISSING_DEPENDENCY})."
  - Under O(profile=webpki), validity follows the WebPKI rules of C(cryptography) plus a few strict RFC 5280 rules
    measured on the x509-limbo conformance suite; under O(profile=openssl) it is OpenSSL's verdict, which agrees with
    C(openssl verify) on every x509-limbo SERVER case without a depth limit (see the collection's
    tests/unit/limbo/README.md).
  - "A certificate whose names hold a PrintableString with characters outside that type (C(&), C(*), C(@) or C(_);
    CAs have issued such intermediates, for example DigiCert's for C(Wells Fargo & Company)) is read as OpenSSL
    reads it (PEM, DER, PKCS#7; not inside PKCS#12) and judged with its own bytes: a V(PARSE_ERROR) finding
    (V(UNTRUSTED_ROOT) for a trust anchor) names the
    strings, an error under O(profile=webpki) and a warning under O(profile=openssl), where OpenSSL accepts such a
    chain."
  - "Needs cryptography >= 42. It runs on the controller when delegated there (C(delegate_to: localhost))."
  - "On the controller it runs inside Ansible's own process, without a module process, when the module would run
    there with the Python running Ansible: a local connection (C(delegate_to: localhost), or C(connection: local)),
    C(ansible_python_interpreter) that Python (as Ansible sets it for the implicit C(localhost); a discovered or
    omitted one does not count), no C(become), no C(async) and no task C(environment) (a task with a variable in
    one runs the module, whose environment it is). The arguments, checks and result are the module's; relative
    paths are read from the playbook's directory, as the module reads them there; nothing is logged to syslog (a
    module logs its invocation, keys masked). Anywhere else the module runs."
seealso:
  - module: certops.backend_tls.backend_cert_info
"""

EXAMPLES = r"""
- name: Collect what a backend serves, each chain also as PEM texts
  certops.backend_tls.backend_cert_info:
    endpoints: ["127.0.0.1:443"]
    chain_pem: true
  register: backend

- name: Verify what a backend serves, as the load balancer sees it
  certops.backend_tls.cert_chain_verify:
    chain: "{{ backend.endpoints[0].chain_pem }}"
    ca_path: /etc/haproxy/backend-ca.pem
    server_names: [shop.example.com]
    min_days_remaining: 30
  delegate_to: localhost
  register: verdict

- name: Verify every endpoint a host serves in one call
  certops.backend_tls.cert_chain_verify:
    items: "{{ backend | certops.backend_tls.json_query(endpoints_query) }}"
    ca_path: /etc/haproxy/backend-ca.pem
    at: +7d
  delegate_to: localhost
  register: verdicts
  vars:
    # an endpoint probed by IP address has no server_name: its item then checks no name ([], not [null])
    endpoints_query: >-
      endpoints[?ok].{name: join(':', [host, to_string(port)]), chain: chain_pem,
                      server_names: server_name && [server_name] || `[]`}

- name: Check renewed material before pushing it
  certops.backend_tls.cert_chain_verify:
    path: files/shop/fullchain.pem
    key_path: files/shop/key.pem
    ca_path: files/lb-ca.pem
    server_names: [shop.example.com, www.shop.example.com]
    min_days_remaining: 30
    fail_on_invalid: true
  delegate_to: localhost
"""

RETURN = r"""
valid:
  description: Whether the chain (single form) or every item (batch form) has no finding of severity error.
  returned: success
  type: bool
  sample: false
profile:
  description: The O(profile) whose rules gave the verdict.
  returned: success
  type: str
  sample: openssl
verifier:
  description: What gave the verdict, with its version (the controller's OpenSSL may differ from the load balancer's).
  returned: success
  type: str
  sample: OpenSSL 3.0.19 27 Jan 2026 (Library OpenSSL 3.0.19 27 Jan 2026)
findings:
  description: The problems found, most important first as they were found.
  returned: single form
  type: list
  elements: dict
  contains:
    code:
      description: The finding code (see notes).
      returned: always
      type: str
      sample: INCOMPLETE_CHAIN
    severity:
      description: V(error), V(warning) or V(info).
      returned: always
      type: str
      sample: error
    message:
      description: What is wrong and what to do.
      returned: always
      type: str
      sample: "missing intermediate: issuer CN=Example Issuing CA (key id 1a2b), available at http://ca.example.com/int.der"
    subject:
      description: Subject of the certificate the finding concerns, or null.
      returned: always
      type: str
      sample: CN=shop.example.com
    fingerprint_sha256:
      description: SHA-256 fingerprint of that certificate (lowercase hex), or null.
      returned: always
      type: str
      sample: 3f1a0c
    role:
      description:
        - Where that certificate stands - V(leaf), V(intermediate), V(root) (self-signed, not trusted) or
          V(trust anchor) (one of the given anchors) - or null when the finding is about no single certificate.
        - Under O(profile=openssl), a finding taken from OpenSSL's own words has the role V(leaf) or V(issuer).
      returned: always
      type: str
      sample: intermediate
verified_chain:
  description:
    - The path from the leaf to a trust anchor, as validated; when validation failed for another reason (name, dates)
      but a path to an anchor exists, that path. Empty when no path was found.
    - Continued as OpenSSL (the load balancer) builds it, through the trust anchors to a self-signed root (with a CA
      file holding intermediate and root, both). Under O(profile=openssl), the chain OpenSSL builds where names
      differ only as OpenSSL does not count (case, blanks).
    - Absent from a valid result with O(compact=true).
  returned: single form
  type: list
  elements: dict
  sample: [{subject: CN=shop.example.com, fingerprint_sha256: 3f1a0c, not_after: "2027-01-01T00:00:00Z"}]
leaf:
  description:
    - The leaf's subject, SHA-256 fingerprint (lowercase hex), SANs, end of validity and whole days remaining at O(at).
    - Null when no certificate could be read.
  returned: single form
  type: dict
  sample: {subject: CN=shop.example.com, fingerprint_sha256: 3f1a0c, sans: {dns: [shop.example.com], ip: []},
           not_after: "2027-01-01T00:00:00Z", days_remaining: 40}
days_remaining:
  description:
    - Whole days until the earliest end of validity along RV(verified_chain) (the CA file's root included), at O(at);
      null when there is no path.
  returned: single form
  type: int
  sample: 40
error:
  description:
    - Why the chain was not judged (single form; in the batch form each item of RV(results) may have its own), as
      C({code, message}) - V(NOT_FOUND) or V(PERMISSION_DENIED) for a path, V(INVALID_ARGUMENT) for a name, key or
      check option the chain cannot be judged with, V(PARSE_ERROR) for what is not a readable certificate. The
      result is then V(valid=false) with one finding of code V(PARSE_ERROR) carrying the same message, and the
      task does not fail (unless O(fail_on_invalid) is set).
    - On a failed task (an argument that is no chain's, such as O(at), or a missing dependency), the code of that
      failure.
  returned: when the chain could not be judged, or the task failed
  type: dict
  sample: {code: INVALID_ARGUMENT, message: "an empty server name checks nothing; give the name the load balancer sends (SNI) and verifies"}
results:
  description: One single-form result per item, each with the item's V(name) (batch form).
  returned: batch form
  type: list
  elements: dict
  sample:
    - {name: shop, valid: true, findings: [], verified_chain: [{subject: CN=shop.example.com, fingerprint_sha256: 3f1a0c,
       not_after: "2027-01-01T00:00:00Z"}], leaf: {subject: CN=shop.example.com, fingerprint_sha256: 3f1a0c,
       sans: {dns: [shop.example.com], ip: []}, not_after: "2027-01-01T00:00:00Z", days_remaining: 40},
       days_remaining: 40}
summary:
  description: Counts over the batch, and how often each finding code occurred.
  returned: batch form
  type: dict
  sample: {items: 3, valid: 2, invalid: 1, codes: {INCOMPLETE_CHAIN: 1}}
"""

from ansible_collections.certops.backend_tls.plugins.module_utils._secrets import KeySafeModule
from ansible_collections.certops.backend_tls.plugins.module_utils._verify_task import (
    ARGUMENT_SPEC,
    MUTUALLY_EXCLUSIVE,
    REQUIRED_ONE_OF,
    run,
)


def main():
    # On the controller with its own Python, the action plugin runs the same task in Ansible's own process instead
    # (plugins/action/cert_chain_verify.py).
    module = KeySafeModule(argument_spec=ARGUMENT_SPEC, required_one_of=REQUIRED_ONE_OF,
                           mutually_exclusive=MUTUALLY_EXCLUSIVE, supports_check_mode=True)
    # A key where no key belongs: KeySafeModule masks it in what it logs and returns; run() says where it was.
    result = run(module.params, module.private_key_strings)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
