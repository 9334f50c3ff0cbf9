#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: lb_backend_info
short_description: Read the load balancer's view of its TLS backends and probe each one as the load balancer does
version_added: 0.2.0
description:
  - Runs on the load balancer host. Reads the HAProxy, nginx (its http and stream proxies) or Apache configuration
    and returns every backend the load balancer connects to (RV(lb_backends)), in one call for all pools, with how the load balancer connects to it
    and judges it, whether the chain is verified (and which setting decides), the SNI it sends, the name it checks,
    its trust anchors (the SHA-256 fingerprint of every certificate in its CA file), the certificate revocation lists
    it checks the chain against (RV(crls)), its client certificate, protocol range and ciphers.
  - A keyword absent from the configuration gets the load balancer's own default (HAProxy 2.6, nginx 1.22 or,
    when the installed nginx reports 1.23.4 or later, that version's, Apache 2.4). For example nginx verifies
    nothing and sends no SNI unless told to, HAProxy verifies unless C(verify none) or C(ssl-server-verify none),
    and Apache checks the name even with C(SSLProxyVerify none).
    A pool that does not verify is reported with RV(lb_backends[].verify=false), never left out.
  - Then probes every TLS backend concurrently from where the load balancer stands, with the SNI it sends (none
    included), its client certificate, its protocol range and its ciphers. A backend that shares no protocol version
    or no cipher with those settings, but completes a handshake without them, is reported as such
    (V(NO_COMMON_PROTOCOL), V(NO_COMMON_CIPHER)), with the chain it serves.
  - Judge the served chains with M(certops.backend_tls.cert_chain_verify) (profile V(openssl)). The
    P(certops.backend_tls.lb_verify_items#filter) filter turns this result into its calls, with each load balancer's
    trust anchors and CRLs and each backend's RV(lb_backends[].verify_options).
  - A configuration that cannot be read, a line that cannot be understood or a backend that cannot be probed is an
    item with an C(error) (C({code, message})); the task fails only for invalid arguments or a missing dependency.
  - Private key bytes are never read into the result; a client certificate is reported by its path and fingerprint.
author:
  - certops maintainers (@certops)
extends_documentation_fragment:
  - certops.backend_tls.cryptography_dep.INFO
  - certops.backend_tls.attributes.READ_ONLY
options:
  lb_type:
    description:
      - The load balancers whose configuration is read, V(haproxy), V(nginx), V(apache), or V(auto).
      - V(auto) reads each type whose usual main configuration file exists (C(/etc/haproxy/haproxy.cfg),
        C(/etc/nginx/nginx.conf), C(/etc/apache2/apache2.conf) or C(/etc/httpd/conf/httpd.conf)) or that O(config)
        names.
    type: list
    elements: str
    choices: [auto, haproxy, nginx, apache]
    default: [auto]
  config:
    description:
      - "The main configuration file per load balancer type, for example C({haproxy: /etc/haproxy/lb.cfg}); types
        not named use their usual file."
      - nginx is read through C(nginx -T) when the C(nginx) binary on the PATH accepts the file, else by following
        its includes directly (when C(nginx -T) fails, a warning gives nginx's complaint and where it stands, what it
        quotes left out); Apache's Include tree and HAProxy's file are read directly.
    type: dict
  probe:
    description: Probe each TLS backend (RV(lb_backends[].endpoint)). Off, only the configuration is read.
    type: bool
    default: true
  timeout:
    description:
      - Seconds allowed per backend (name resolution, connect and handshakes together, the second handshake that
        tells V(NO_COMMON_PROTOCOL) and V(NO_COMMON_CIPHER) apart included). A backend never takes longer than this
        (plus a small margin), whatever it does.
    type: float
    default: 5
  concurrency:
    description: How many backends are probed at the same time.
    type: int
    default: 16
  include_pem:
    description:
      - Return each certificate's PEM (public data only) in C(certificates[].pem), once per distinct certificate.
    type: bool
    default: true
  chain_pem:
    description:
      - Also return each backend's served chain as a list of PEM texts (C(lb_backends[].endpoint.chain_pem)), ready
        for M(certops.backend_tls.cert_chain_verify)'s O(certops.backend_tls.cert_chain_verify#module:chain).
    type: bool
    default: false
  backends:
    description:
      - >-
        Only these backends, each as C(pool/server) (as RV(lb_backends[].pool) and RV(lb_backends[].server) name it);
        the others are neither probed nor returned. For example to look again at the backends just fixed.
      - A name that matches no backend is not an error; C(summary.backends) counts what was kept.
    type: list
    elements: str
  query:
    description:
      - A JMESPath expression applied to the result. When given, only RV(query_result) and RV(summary) are
        returned.
    type: str
notes:
  - "What is reported when a keyword is absent, per load balancer, and the limits of the parsers: see the collection's
    C(docs/lb-view.md)."
  - "HAProxy's C(sni) is a sample expression. C(str(name)) is that name; anything else (for example C(req.hdr(host)))
    is request-dependent and reported as C({dynamic: <expression>}); such a backend is probed with the SNI its health
    checks send (C(check-sni)), or none."
  - "To judge the served chains as the load balancer does, pass the result to the
    P(certops.backend_tls.lb_verify_items#filter) filter: one M(certops.backend_tls.cert_chain_verify) call per set
    of trust anchors and CRLs, each item carrying the backend's RV(lb_backends[].verify_options) (the name checked,
    the name rule, the depth, whether the chain is verified at all, what is checked against the CRLs). With C(profile: openssl) each verdict is the load
    balancer's. The role M(certops.backend_tls.cert_remediation) does this with C(cert_remediation_lb_hosts)."
  - "TLS 1.3 cipher suites (HAProxy C(ciphersuites), Apache C(SSLProxyCipherSuite TLSv1.3), nginx
    C(proxy_ssl_conf_command Ciphersuites)) cannot be restricted by Python's ssl module: a probe that negotiates
    TLS 1.3 with a suite outside them asks again with C(openssl s_client -ciphersuites), offering only those, and
    the backend is V(NO_COMMON_CIPHER) when it takes none of them (V(UNSUPPORTED_SETTING), not judged, where
    s_client cannot ask: no C(openssl) command, or a PROXY protocol header to send)."
  - The verify depth (RV(lb_backends[].verify_depth)) is reported as the load balancer counts it; nginx counts
    intermediates, Apache counts the anchor too (1 means the leaf is signed by a configured CA);
    RV(lb_backends[].verify_options) gives it in OpenSSL's count, as M(certops.backend_tls.cert_chain_verify) takes it.
  - "Revocation lists: HAProxy's C(crl-file) (relative to C(ca-base), as C(ca-file)) and nginx's C(proxy_ssl_crl) are
    checked against every certificate of the chain, and only when the backend is verified; Apache checks what
    C(SSLProxyCARevocationCheck) says (default V(none)) against C(SSLProxyCARevocationFile) and
    C(SSLProxyCARevocationPath). The three read CRL files as PEM only: a DER CRL file is reported as V(NOT_A_CRL)."
seealso:
  - module: certops.backend_tls.cert_chain_verify
  - module: certops.backend_tls.backend_cert_info
  - plugin: certops.backend_tls.lb_verify_items
    plugin_type: filter
"""

EXAMPLES = r"""
- name: The load balancer's view of every backend (lb_verify_items takes the chains from certificates[].pem)
  certops.backend_tls.lb_backend_info:
    lb_type: [haproxy]
  register: lb

- name: Judge every backend as the load balancer does (one call per set of trust anchors and CRLs)
  certops.backend_tls.cert_chain_verify:
    items: "{{ group.chains }}"
    ca_content: "{{ group.ca_content | default(omit, true) }}"
    crl_content: "{{ group.crl_content | default(omit, true) }}"
    profile: openssl
  loop: "{{ lb | certops.backend_tls.lb_verify_items }}"
  loop_control:
    loop_var: group
    label: "{{ group.chains | length }} backends"
  delegate_to: localhost
  register: judged

- name: Pools that do not verify their backends at all
  certops.backend_tls.lb_backend_info:
    lb_type: auto
    probe: false
    query: "lb_backends[?tls && !verify].{pool: pool, server: server, where: join(':', [config_file, to_string(line)])}"
  register: unverified

- name: nginx with its configuration elsewhere
  certops.backend_tls.lb_backend_info:
    lb_type: nginx
    config:
      nginx: /opt/nginx/conf/nginx.conf
"""

RETURN = r"""
lb_backends:
  description: "One entry per backend the load balancer connects to (a server line, a template slot, an upstream
    member, a ProxyPass or BalancerMember URL), in configuration order. An entry whose line could not be understood
    (C(INVALID_CONFIG) in its C(error)) has null where the line did not say: C(tls), C(verify), C(verify_origin),
    C(check_expiry)."
  returned: unless O(query) is given
  type: list
  elements: dict
  contains:
    lb_type:
      description: "V(haproxy), V(nginx) or V(apache)."
      returned: always
      type: str
      sample: haproxy
    config_file:
      description: "The file the backend is configured in (for an nginx upstream member, the file of its server line)."
      returned: always
      type: str
      sample: /etc/haproxy/haproxy.cfg
    line:
      description: "The line number there."
      returned: always
      type: int
      sample: 42
    pool:
      description: "HAProxy backend or listen section, nginx upstream (or the proxy_pass host), Apache balancer URL
        (or the ProxyPass URL)."
      returned: always
      type: str
      sample: be_app
    server:
      description: "Server name (HAProxy), upstream server address (nginx) or backend URL (Apache). A server-template
        with a DNS name is one entry named C(prefix[low-high])."
      returned: always
      type: str
      sample: app1
    source:
      description: "V(server), V(server-template), V(upstream), V(proxy_pass), V(ProxyPass) or V(BalancerMember)."
      returned: always
      type: str
      sample: server
    location:
      description: "nginx: the first server_name and the location (a C(stream) server: V(stream) and its first listen
        address); Apache: the VirtualHost and the path (a main-server
        ProxyPass gives one entry per VirtualHost, each with that VirtualHost's settings, and one V(main server) entry
        only where the main server answers requests itself). Null for HAProxy."
      returned: always
      type: str
      sample: "shop.example.com /api/"
    address:
      description: "Host name or IP address connected to; null when only known at run time."
      returned: always
      type: str
      sample: 10.0.0.11
    port:
      description: "TCP port; null when not fixed."
      returned: always
      type: int
      sample: 443
    tls:
      description: "Whether the load balancer speaks TLS to the backend."
      returned: always
      type: bool
      sample: true
    verify:
      description: "Whether the load balancer verifies the backend's chain (effective value, defaults applied)."
      returned: always
      type: bool
      sample: true
    verify_origin:
      description: "What decided RV(lb_backends[].verify). HAProxy V(server), V(default-server), V(global)
        (C(ssl-server-verify)) or V(default); nginx V(location), V(server), V(http), V(stream) or V(default); Apache
        V(proxy) (a C(<Proxy>) section), V(virtualhost), V(server) or V(default)."
      returned: always
      type: str
      sample: default-server
    sni:
      description: "The SNI the load balancer sends: a name, null for none, or C({dynamic: <expression>}) when it
        depends on the request."
      returned: always
      type: raw
      sample: app.example.internal
    check_sni:
      description: "HAProxy: the SNI its health checks send (C(check-sni)); null otherwise."
      returned: always
      type: str
      sample: app.example.internal
    verify_name:
      description: "The name the load balancer checks the certificate against; null when it checks no name;
        C({dynamic: <expression>}) when it depends on the request."
      returned: always
      type: raw
      sample: app.example.internal
    name_rule:
      description: "How the load balancer matches the name: V(haproxy) (DNS SANs and every CN, no IP SANs),
        V(openssl) (X509_check_host), V(apache) (DNS SANs and every CN, wildcards only as C(*.)), V(apache_cn) (the
        legacy first-CN compare); null when no name is checked."
      returned: always
      type: str
      sample: haproxy
    check_expiry:
      description: "Whether the load balancer refuses a certificate outside its validity period (Apache does even
        without verification, C(SSLProxyCheckPeerExpire))."
      returned: always
      type: bool
      sample: true
    ca_file:
      description: "The load balancer's trust anchors file (or HAProxy directory, or V(@system-ca)); null when none is
        configured."
      returned: always
      type: str
      sample: /etc/haproxy/ca/internal-ca.pem
    ca_path:
      description: "Apache C(SSLProxyCACertificatePath), read as OpenSSL's hashed lookup reads it (C(<hash>.0),
        C(.1), ...); null otherwise."
      returned: always
      type: str
      sample: null
    ca_fingerprints:
      description: "SHA-256 fingerprints of every certificate in RV(lb_backends[].ca_file) and
        RV(lb_backends[].ca_path): what the load balancer trusts, by content (from an HAProxy directory, the first
        certificate of each C(*.pem), C(*.crt) and C(*.cer) file, as HAProxy loads them), and the certificates
        its CRL setting holds (those of RV(lb_backends[].crl_file), and Apache's RV(lb_backends[].crl_path)
        C(<hash>.0) files), which OpenSSL loads into the same store and trusts alike. Null when no CA is
        configured."
      returned: always
      type: list
      elements: str
      sample: [5b0f1c9e0a]
    crl_file:
      description: "The CRL file the load balancer checks this backend's chain against (HAProxy C(crl-file), nginx
        C(proxy_ssl_crl), Apache C(SSLProxyCARevocationFile)), as an absolute path; null when none is configured or
        its path is only known at run time."
      returned: always
      type: str
      sample: /etc/haproxy/ca/internal-ca.crl
    crl_path:
      description: "Apache C(SSLProxyCARevocationPath), the directory of its hashed CRL files (C(<hash>.r0)); null
        otherwise."
      returned: always
      type: str
      sample: null
    crl_check:
      description: "What the load balancer checks against its CRLs: V(none), V(leaf) (the leaf only) or V(chain) (every
        certificate of the chain OpenSSL builds, its self-signed root included). HAProxy and nginx: V(chain) when a CRL file is configured and
        the backend is verified, else V(none). Apache: C(SSLProxyCARevocationCheck) as configured (default V(none)),
        even for a backend it does not verify (RV(lb_backends[].verify_options) then checks nothing)."
      returned: always
      type: str
      choices: [none, leaf, chain]
      sample: chain
    crl_missing_ok:
      description: "Apache C(SSLProxyCARevocationCheck ... no_crl_for_cert_ok): a certificate whose issuer has no
        CRL passes. False for HAProxy and nginx."
      returned: always
      type: bool
      sample: false
    crl_fingerprints:
      description: "SHA-256 fingerprints (of the DER) of every CRL in RV(lb_backends[].crl_file) and
        RV(lb_backends[].crl_path), in file order (a directory: its <issuer hash>.rN files, as OpenSSL reads them, in
        hash order), then those the CA setting holds, which OpenSSL loads into the same store (the CRLs of
        RV(lb_backends[].ca_file), Apache's RV(lb_backends[].ca_path) C(<hash>.rN) files); each described once in
        RV(crls). Null when neither is configured; empty when they cannot be read (see RV(lb_backends[].error))."
      returned: always
      type: list
      elements: str
      sample: [0d4e5f7a91]
    verify_depth:
      description: "The configured verify depth, as the load balancer counts it (nginx and Apache default 1); null
        for HAProxy (OpenSSL's default)."
      returned: always
      type: int
      sample: 1
    verify_options:
      description:
        - "What M(certops.backend_tls.cert_chain_verify) needs, besides the trust anchors, to judge the served chain
          as this load balancer does: an item's V(server_names) (the name it checks, none when it checks none or
          the name depends on the request), V(name_rule), V(verify_depth) (converted to OpenSSL's count:
          Apache's depth minus one, so its 0 is V(-1): only a leaf its CA file holds itself), V(check_chain) (false
          for a pool that does not verify), V(check_expiry), V(crl_check) (RV(lb_backends[].crl_check) when the
          chain is verified, else V(none)), V(crl_missing_ok) and V(security_level) (the OpenSSL security level
          its cipher string sets with C(@SECLEVEL=n), which decides the key sizes and signature hashes it accepts;
          null where it sets none).
          Merge it into the item: C(dict(verify_options, name=..., chain=endpoint.chain_pem))."
        - "HAProxy is judged on the name its health checks verify when they run over TLS (its DOWN state and its
          alert come from them)."
        - "Null for a backend reached without TLS."
      returned: always
      type: dict
      sample: {server_names: [app.example.internal], name_rule: haproxy, verify_depth: null, check_chain: true,
               check_expiry: true, crl_check: chain, crl_missing_ok: false, security_level: null}
    client_cert:
      description: "The client certificate the load balancer presents: C({path, fingerprint_sha256}) (the first
        certificate of the file; null when unreadable). Never the key. Apache's file may hold several: the probe
        presents the one Apache presents to each backend, chosen by the CA names the backend sends (docs/lb-view.md)."
      returned: always
      type: dict
      sample: {path: /etc/haproxy/certs/lb-client.pem, fingerprint_sha256: 9c1e0b}
    client_key:
      description: "The separate key file of the client certificate (HAProxy C(<crt>.key)); null when the key is in
        the certificate file, given inline (nginx C(data:), reported as an C(INVALID_CONFIG) error, never echoed) or
        there is none. A path only."
      returned: always
      type: str
      sample: null
    client_key_passwords:
      description: "The file of passwords the load balancer tries, in turn, on an encrypted client key (nginx's
        C(proxy_ssl_password_file), where a client certificate is set); null otherwise. The probe decrypts the key
        with them as nginx does (a line each, empty lines skipped); none decrypting it is the backend's C(ENCRYPTED)
        error. A path only: no password is ever returned or logged."
      returned: always
      type: str
      sample: /etc/nginx/ssl/client.pass
    min_version:
      description: "Lowest protocol version the load balancer offers (V(TLSv1) .. V(TLSv1.3)); null for the TLS
        library's default."
      returned: always
      type: str
      sample: TLSv1.2
    max_version:
      description: "Highest protocol version the load balancer offers; null for the TLS library's default."
      returned: always
      type: str
      sample: TLSv1.3
    ciphers:
      description: "Cipher string for TLS 1.2 and below; null for the TLS library's default (HAProxy without
        C(ciphers) or C(ssl-default-server-ciphers))."
      returned: always
      type: str
      sample: DEFAULT
    ciphersuites:
      description: "TLS 1.3 cipher suites, when configured (checked with openssl s_client when the probe's own
        handshake took another suite: see the notes)."
      returned: always
      type: str
      sample: null
    health_check:
      description: "HAProxy: whether the server is health-checked, over TLS (C(check-ssl); C(no-check-ssl), or a
        check C(port) or C(addr) without C(check-ssl), is plain TCP), with which SNI and which verified name, and the
        PROXY protocol header the checks send first (C(proxy_protocol); C(check-send-proxy), or the server's own when no
        check C(port) or C(addr) is set), which the probe sends too. Null for nginx and Apache (no active checks in
        their open-source versions)."
      returned: always
      type: dict
      sample: {enabled: true, tls: true, sni: app.example.internal, verify_name: app.example.internal,
               proxy_protocol: null}
    disabled:
      description:
        - "Taken out of service in the configuration: HAProxy C(disabled) on the server (it starts in maintenance,
          neither checked nor sent traffic; C(enabled) undoes a C(default-server)'s) or on its C(backend) section or
          that section's C(defaults) (the whole proxy is stopped), an nginx upstream C(server ... down), an Apache
          C(BalancerMember) with C(status=D) or C(status=S)."
        - "Such a backend is still probed (what it would serve if put back), but P(certops.backend_tls.lb_verify_items#filter)
          does not judge it and the role does not act on it: its load balancer does not judge it either."
      returned: always
      type: bool
      sample: false
    backup:
      description: "A backup: HAProxy C(backup), an nginx upstream C(backup), an Apache C(BalancerMember) with
        C(status=H) or C(status=R). Judged as any other backend (it takes traffic when the others fail)."
      returned: always
      type: bool
      sample: false
    proxy_protocol:
      description: "The PROXY protocol header sent before each handshake: HAProxy V(v1) (C(send-proxy)) or V(v2)
        (C(send-proxy-v2), C(send-proxy-v2-ssl), C(send-proxy-v2-ssl-cn)), an nginx C(stream) server's V(v1)
        (C(proxy_protocol on)); null when none (and for nginx http and Apache).
        A backend behind one expects it, and the probe sends it as the load balancer does (on a host whose Python is
        older than 3.10 it then sees the leaf only: C(openssl s_client) sends no such header)."
      returned: always
      type: str
      sample: v2
    error:
      description:
        - "Null, or a problem of the configuration entry: V(INVALID_CONFIG) (a line that cannot be understood, a
          setting the load balancer refuses, or one with which it fails every connection to the backend: nginx
          offering no TLS version, or resolving a C(proxy_pass) host per request with no C(resolver)),
          V(DYNAMIC_ADDRESS) (the backend is only known at run time), V(UNSUPPORTED_ADDRESS) (no TCP address or no
          fixed port), V(UNSUPPORTED_SETTING) (a setting whose effect the collection cannot reproduce, Apache's
          C(SSLProxyVerify optional_no_ca), a HAProxy C(verify), C(ssl-server-verify), C(ssl-min-ver) or
          C(ssl-max-ver) from an environment variable, or an nginx C(proxy_ssl_conf_command) other than C(Ciphersuites),
          C(CipherString), C(MinProtocol), C(MaxProtocol), C(Protocol) and C(Options): not judged), V(DYNAMIC_PATH)
          (a CA, CRL or client certificate path only known at run time), or the CA file's V(NOT_FOUND),
          V(PERMISSION_DENIED), V(NOT_A_CERTIFICATE) (also when its only certificates are OpenSSL C(TRUSTED
          CERTIFICATE)s whose trust settings refuse serverAuth, and for a CA file the load balancer cannot load: no
          PEM block at the start of a line, no certificate block, a certificate block that is not base64, or a last
          block without its END line), V(TOO_LARGE). nginx loads its CA and CRL files only
          where it verifies: elsewhere their errors are not reported here."
        - "A CRL file or directory that cannot be read or holds no CRL: V(NOT_FOUND), V(PERMISSION_DENIED),
          V(NOT_A_CRL) (no PEM CRL in it, a DER CRL, or a directory where a file is named), V(TOO_LARGE) (over 16
          MiB) or V(NOT_REGULAR_FILE) (a FIFO, socket or device, never read), the message starting with
          C(CRL file <path>:). Only when the entry had no error already."
        - "A CRL file of certificates only, or a CRL directory where OpenSSL finds no CRL, is loaded by the load
          balancer, which then finds no CRL: V(NOT_A_CRL) only when its store holds no other CRL (the CA file's
          count) and Apache's C(no_crl_for_cert_ok) does not forgive it; otherwise no error, and the backend is
          judged against the CRLs there are."
      returned: always
      type: dict
      sample: null
    endpoint:
      description:
        - "The probe made as the load balancer connects (null when not probed: no TLS, no fixed address, or
          O(probe=false)). The keys of M(certops.backend_tls.backend_cert_info)'s C(endpoints[]) except
          C(matches_files) and C(client_key): C(host), C(port),
          C(server_name) (the SNI sent, null for none), C(ok), C(error), C(tls_version), C(cipher), C(chain)
          (fingerprints, leaf first), C(chain_pem) (with O(chain_pem)), C(handshake_ms), C(elapsed_ms),
          C(client_cert)."
        - "Error codes are those of backend_cert_info's endpoints, plus V(NO_COMMON_PROTOCOL) (the backend completes
          a handshake, but with no protocol version the load balancer allows) and V(NO_COMMON_CIPHER) (no cipher
          the load balancer offers, or none of its TLS 1.3 cipher suites). With those two, C(chain), C(tls_version) and C(cipher) are what the backend
          serves without the load balancer's limits."
      returned: always
      type: dict
      sample: {host: 10.0.0.11, port: 443, server_name: app.example.internal, ok: false,
               error: {code: NO_COMMON_PROTOCOL, message: "the backend shares no protocol version with the load
                       balancer's settings (TLSv1.2 to TLSv1.2; TLSV1_ALERT_PROTOCOL_VERSION); without them the
                       backend negotiates TLSv1.3 with TLS_AES_256_GCM_SHA384"},
               tls_version: TLSv1.3, cipher: TLS_AES_256_GCM_SHA384, chain: [3f1a0c, 77d2e1], handshake_ms: null,
               elapsed_ms: 8.2}
certificates:
  description: "Every distinct certificate seen (served, trust anchors, client certificates), described once, with
    the keys of M(certops.backend_tls.backend_cert_info)'s C(certificates[])."
  returned: unless O(query) is given
  type: list
  elements: dict
  sample: [{fingerprint_sha256: 3f1a0c, subject: "CN=app.example.internal", not_after: "2027-01-01T00:00:00Z",
            days_remaining: 200, expired: false}]
crls:
  description: "Every distinct certificate revocation list the backends' RV(lb_backends[].crl_file) and
    RV(lb_backends[].crl_path) hold, described once (by the SHA-256 of its DER, as
    RV(lb_backends[].crl_fingerprints) names it): its issuer, its dates, how many certificates it revokes and,
    with O(include_pem), its PEM (label C(X509 CRL)), what M(certops.backend_tls.cert_chain_verify) takes as
    C(crl_content). Each file is read once per run."
  returned: unless O(query) is given
  type: list
  elements: dict
  contains:
    sha256:
      description: "SHA-256 of the CRL's DER, lowercase hex."
      returned: always
      type: str
      sample: 0d4e5f7a91
    issuer:
      description: "The issuer's name (RFC 4514)."
      returned: always
      type: str
      sample: "CN=Internal Intermediate CA"
    last_update:
      description: "When the CRL was issued (C(thisUpdate)), UTC."
      returned: always
      type: str
      sample: "2026-11-30T00:00:00Z"
    next_update:
      description: "When the next CRL is due (C(nextUpdate)), UTC; null when the CRL does not say. OpenSSL refuses a
        CRL past it (C(CRL_EXPIRED)), and so does the load balancer."
      returned: always
      type: str
      sample: "2026-12-07T00:00:00Z"
    revoked:
      description: "How many certificates it revokes."
      returned: always
      type: int
      sample: 2
    pem:
      description: "The CRL as PEM (public data)."
      returned: when O(include_pem) is true
      type: str
      sample: "-----BEGIN X509 CRL-----\nMIIBnzCBiAIBATAKBggqhkjOPQQDAjAj...\n-----END X509 CRL-----\n"
configs:
  description: "One entry per load balancer type read: its main file, the number of backends, or why it could not be
    read (C(error) {code, message}; C(NOT_FOUND), C(PERMISSION_DENIED), C(NOT_REGULAR_FILE) for a FIFO, socket,
    device or directory, never read, C(TOO_LARGE) for a file over 32 MiB, C(INVALID_CONFIG)), and for nginx the
    version of the nginx binary found (C(nginx -v); null when none answered), which decides defaults that changed
    (since 1.23.4 C(proxy_ssl_protocols) includes TLSv1.3)."
  returned: unless O(query) is given
  type: list
  elements: dict
  sample: [{lb_type: haproxy, config_file: /etc/haproxy/haproxy.cfg, backends: 6, error: null, version: null}]
summary:
  description: "Counts over the result; C(error_codes) counts each code among the backends' and probes' errors;
    C(disabled) the backends taken out of service (RV(lb_backends[].disabled))."
  returned: success
  type: dict
  sample: {backends: 6, tls: 6, verified: 5, not_verified: 1, probed: 6, reachable: 4, errors: 3, disabled: 0,
           error_codes: {NO_COMMON_PROTOCOL: 1, NO_COMMON_CIPHER: 1, DYNAMIC_ADDRESS: 1}}
error:
  description: "Why the task failed: code V(INVALID_ARGUMENT) and a message."
  returned: on failure for an invalid argument
  type: dict
  sample: {code: INVALID_ARGUMENT, message: "config: unknown load balancer type traefik (allowed: haproxy, nginx,
    apache)"}
query_result:
  description: "The result of O(query) applied to the full result."
  returned: when O(query) is given
  type: raw
  sample: [{pool: be_legacy, server: old1}]
"""

from ansible_collections.certops.backend_tls.plugins.module_utils._base import CertError
from ansible_collections.certops.backend_tls.plugins.module_utils._infomodule import InfoModule


def main():
    module = InfoModule(
        argument_spec=dict(
            lb_type=dict(type="list", elements="str", default=["auto"], choices=["auto", "haproxy", "nginx", "apache"]),
            config=dict(type="dict"),
            probe=dict(type="bool", default=True),
            timeout=dict(type="float", default=5),
            concurrency=dict(type="int", default=16),
            include_pem=dict(type="bool", default=True),
            chain_pem=dict(type="bool", default=False),
            backends=dict(type="list", elements="str"),
            query=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    module.require_dependencies()
    if not 0 < params["timeout"] <= 86400 or params["concurrency"] < 1:
        module.fail_json(msg="timeout and concurrency must be positive",
                         error={"code": "INVALID_ARGUMENT", "message": "timeout and concurrency must be positive"})
    # Imported after the dependency check: _lbview needs cryptography (through _certs).
    from ansible_collections.certops.backend_tls.plugins.module_utils import _lbview

    try:
        specs = _lbview.parse_lb_types(params["lb_type"], params["config"])
        result = _lbview.lb_view(specs, probe=params["probe"], timeout=params["timeout"],
                                 concurrency=params["concurrency"], include_pem=params["include_pem"],
                                 chain_pem=params["chain_pem"], run_command=module.nginx_dump,
                                 version_of=module.server_version, only=params["backends"])
    except CertError as exc:
        module.fail_json(msg=exc.message, error=exc.as_dict())
    if not specs:
        module.warn("lb_type auto: no HAProxy, nginx or Apache configuration in the usual places; name the files in "
                    "config")
    module.exit_info(result)


if __name__ == "__main__":
    main()
