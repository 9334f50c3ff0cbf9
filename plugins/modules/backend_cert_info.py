#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: backend_cert_info
short_description: Collect certificate facts from a backend (files on disk, served chains, configured sites)
version_added: 0.1.0
description:
  - Reads certificate files (PEM bundles in any order, DER, certificate + key files as HAProxy wants them),
    probes TLS endpoints and records the chain each one really serves, and discovers the TLS sites that
    nginx, Apache and HAProxy are configured with, all in one call.
  - Each distinct certificate is described once in RV(certificates); files, endpoints and sites refer to
    certificates by SHA-256 fingerprint.
  - A file or endpoint that cannot be read is an item with an C(error) (C({code, message})); the task
    only fails for invalid arguments or a missing dependency.
  - Private key bytes are never returned; a key is reported by its type and whether it belongs to the leaf.
author:
  - certops maintainers (@certops)
extends_documentation_fragment:
  - certops.backend_tls.cryptography_dep.INFO
  - certops.backend_tls.attributes.READ_ONLY
  - certops.backend_tls.collect_options
attributes:
  action:
    support: partial
    description:
      - Without O(discover), the host runs M(certops.backend_tls.backend_cert_material) and the certificates are
        described on the controller (see the notes).
options:
  paths:
    description:
      - Certificate files, directories (walked recursively) and glob patterns (C(**) allowed).
      - A file may hold many PEM blocks in any order, a DER certificate, certificates and a private key,
        PKCS#7 certificates (C(.p7b), PEM or DER) or a PKCS#12 file without a password.
      - Directory symlinks are followed, but no directory is entered twice (symlink loops are harmless), and a
        file is named by its real path when it has one. A directory that cannot be listed is an item in
        RV(files) with error C(PERMISSION_DENIED).
      - FIFOs, sockets and devices are never read (they could block or never end); each is an item with error
        C(NOT_REGULAR_FILE).
    type: list
    elements: path
  endpoints:
    description:
      - TLS endpoints to probe, as C(host:port) strings (C([v6]:port) for IPv6, port 443 when missing) or dicts.
      - The host is an IP address or a DNS name. A URL (C(https://host/)), an IPv6 address without brackets in a
        string (C(::1:8443)) or an unknown dict key fails the task with error code C(INVALID_ARGUMENT).
      - A dict may present a client certificate (O(endpoints[].client_cert), O(endpoints[].client_key)) to a
        backend that asks for one. The same endpoint may be listed with different client certificates; each is
        probed.
    type: list
    elements: raw
    suboptions:
      host:
        description: Host name or IP address.
        type: str
        required: true
      port:
        description: TCP port.
        type: int
        default: 443
      server_name:
        description: SNI name to send. Defaults to O(endpoints[].host) when it is a DNS name; none for an IP.
        type: str
      sni:
        description:
          - >-
            V(false) sends no SNI at all, as nginx does by default (C(proxy_ssl_server_name off)) and HAProxy without
            C(sni), so the backend answers with its default certificate. O(endpoints[].server_name) must then be left
            out. The endpoint is returned with V(server_name=null).
          - M(certops.backend_tls.lb_backend_info) reports what each load balancer sends (C(lb_backends[].sni)).
        type: bool
        default: true
      client_cert:
        description:
          - Client certificate to present when the server asks for one, as the load balancer does for a backend
            that requires mutual TLS (HAProxy C(crt) on a C(server) line, nginx C(proxy_ssl_certificate), Apache
            C(SSLProxyMachineCertificateFile)).
          - Path of a PEM file on the host the module runs on, holding the client certificate first among its
            certificates, then optionally its intermediates (they are sent too); it may also hold the private key
            (one combined file, as HAProxy's C(crt) wants it).
          - Without it, a server that requires a client certificate is reported with error
            C(CLIENT_CERT_REQUIRED), together with the chain it served before asking.
          - A file that cannot be read, holds no certificate, or whose key does not match is that endpoint's
            error (see RV(endpoints[].error)); no connection is made then.
        type: path
      client_key:
        description:
          - Path of the PEM private key of O(endpoints[].client_cert), on the host the module runs on. Defaults to
            the key inside the O(endpoints[].client_cert) file.
          - A path, never key text. Key text given here fails the task with C(INVALID_ARGUMENT); neither the
            message nor the module's logs show it. The key must not be password-protected.
          - The key is read only to check that it belongs to the certificate; its bytes are never returned.
        type: path
      proxy_protocol:
        description:
          - Send a PROXY protocol header of this version before the handshake, as a load balancer with HAProxy's
            C(send-proxy) (V(v1)) or C(send-proxy-v2) (V(v2)) does, for a backend that expects one (nginx
            C(listen ... proxy_protocol), HAProxy C(accept-proxy), Apache C(RemoteIPProxyProtocol On)); such a
            backend drops a connection without it. The header names the probe's own addresses.
          - Discovered sites set it themselves from those settings (see O(discover)).
          - On a host whose Python is older than 3.10 such an endpoint reports its leaf only (C(openssl s_client),
            which reads the chain there, sends no such header), with a warning.
          - M(certops.backend_tls.lb_backend_info) reports what each load balancer sends
            (C(lb_backends[].proxy_protocol)).
        type: str
        choices: [v1, v2]
      key_type:
        description:
          - Ask for the server's certificate of this key type, where it holds several (nginx's or Apache's RSA
            certificate beside an ECDSA one); without it the server sends the one OpenSSL's default handshake favours
            (ECDSA, then EdDSA, then RSA). Spelled as RV(certificates[].public_key) spells its type; any case, and V(ECDSA) for
            V(EC).
          - Asked over TLS 1.2 or lower by the cipher suites only that key type signs; a server that takes none of
            them (TLS 1.3 only) is asked over TLS 1.3 by C(openssl s_client) with that type's signature algorithms,
            as V(Ed25519) and V(Ed448) always are (an EdDSA certificate signs ECDSA suites too). s_client sends no
            PROXY protocol header, so with O(endpoints[].proxy_protocol) such a probe is error C(UNSUPPORTED_SETTING).
          - A server with no certificate of that type fails the handshake (C(TLS_HANDSHAKE_FAILED)); it never
            answers with another type's.
          - Discovered sites set it themselves where their server holds several (see O(discover)).
        type: str
        choices: [RSA, EC, Ed25519, Ed448]
  discover:
    description:
      - Web servers whose configuration is read to find each TLS site's certificate, key and chain files,
        listen addresses and server names. Each found site is collected and probed.
      - A string (V(nginx), V(apache), V(haproxy)) uses the usual main configuration file; a dict names the
        configuration file (and for nginx the binary) explicitly.
      - nginx is read through C(nginx -T) when the binary works, else by following its includes directly (when
        C(nginx -T) fails, a warning gives nginx's complaint and where it stands, what it quotes left out). An nginx
        server is a TLS site when some C(listen) of its address and port, in any server, says C(ssl), as nginx
        applies it to the listening socket.
      - Read as the servers read them - nginx C(ssl on) (in a server or the http block) makes every listen of a
        server TLS, and in a socket's default server the socket TLS for its other servers too (C(ssl on) likewise
        makes a socket TLS only where its server is the socket's default); a site is probed at the first of its TLS
        listens where a name reaches it (see RV(sites[].error)); C(include) wildcards match within one path segment,
        as glob(3); Apache reads an C(Include)d directory recursively, skips an C(<IfDefine>) section whose
        test fails for a parameter the files C(Define) or C(UnDefine) (one they do not name may be given by httpd's
        C(-D), as Gentoo's and SUSE's C(-D SSL), and its section is read), takes a C(ServerName) written
        C(https://name:port) as its name, and a main server with C(SSLEngine on) is a site of its own on each
        C(Listen) it answers (one no VirtualHost covers, or a wildcard one on addresses no VirtualHost names);
        HAProxy reads a C(crt) file's C(.key) beside it only when the file holds no key of its own.
      - Each site is probed with its first name as SNI (nginx's C(.a.test) is C(a.test)); a site whose only names
        are wildcards (C(*.a.test), nginx's C(www.a.*)) with a name they match (C(certops-probe.a.test),
        C(www.a.certops-probe)), so that the probe reaches that site and not the default one. An nginx server named
        only by regular expressions is probed with a name one of them matches (C(~^[a-z0-9-]+[.]saas[.]test$) with
        C(a.saas.test) - the first alternative, optional parts left out, one of each repeated character, checked with
        Python's re) that no other server of its sockets takes first (an exact or wildcard name, an earlier
        expression); where there is none, and for catch-alls (C(_)), it is probed without SNI where it is its
        socket's default server, and is otherwise C(NO_PROBE_NAME) (RV(sites[].error)).
      - A server that loads several certificates (nginx C(ssl_certificate), Apache C(SSLCertificateFile), given
        more than once, each with the key file of its place; Apache's VirtualHost takes the main server's Nth in
        place of its own Nth missing, as mod_ssl merges them) serves one of each key type, the last it loads of
        that type. Each key type it serves is a site of its own, named for it (C(nginx-a.test+rsa),
        C(nginx-a.test+ec)) and probed asking for that type (O(endpoints[].key_type)); a certificate replaced by a
        later one of the same type is no site, with a warning. A server with one certificate is one site, named as
        before.
      - HAProxy picks among a C(bind)'s certificates that take a client's SNI by the key types the client can use
        (several C(crt), a directory, a bundle - C(crt a.pem) loads C(a.pem.dsa), C(a.pem.ecdsa) and C(a.pem.rsa),
        in that order, when C(a.pem) is not there), so a site whose probe name another certificate of its C(bind), of another key
        type, also takes is probed asking for its type and named for it (C(haproxy-a.test+rsa)).
      - Not read, and documented limits - an HAProxy C(.if) block is read unless the file decides its condition
        (a number, C(streq) of fixed words, C(defined) of a C(setenv) name), and Apache C(<IfModule>) sections are
        read in every branch.
      - A site listening on every IPv4 address is probed at 127.0.0.1, or, where another server of the same nginx or
        Apache listens on 127.0.0.1 itself on that port (and so takes its connections), at the next 127.0.0.N none
        does, and for Apache binding only some addresses (C(Listen 127.0.0.3:443)) the first of those (IPv4
        addresses only, a host name counting as the address it resolves to). A site listening on the IPv6 wildcard
        is probed at C(::1), and where another server of the same nginx or Apache listens on C([::1]) itself on that
        port (so takes those connections; IPv6 has no other loopback address) at another of its TLS listens, else
        it is C(NO_PROBE_NAME) (no probe goes to another of the host's addresses).
      - A site whose server expects a PROXY protocol header before the handshake is probed with one (V(v1)) - nginx
        C(listen ... proxy_protocol) (for every server on that address and port, as nginx applies it), HAProxy
        C(bind ... accept-proxy), Apache C(RemoteIPProxyProtocol On) (in a VirtualHost, for its addresses; in the
        main server, for all; an C(Off) for an address that covers it wins, except that for the very same address
        (C(*), C(_default_) and C(0.0.0.0) are one) the later line wins, as in Apache 2.4). HAProxy's
        C(tcp-request connection expect-proxy) rules and Apache's C(RemoteIPProxyProtocolExceptions) are not read.
        An address written as a host name (nginx C(listen localhost:443), Apache C(<VirtualHost localhost:443>)) is
        the address this host resolves it to, as the server resolves it when it starts.
    type: list
    elements: raw
    suboptions:
      type:
        description: Server type.
        type: str
        required: true
        choices: [nginx, apache, haproxy]
      config:
        description:
          - Main configuration file. Defaults to C(/etc/nginx/nginx.conf), C(/etc/apache2/apache2.conf)
            (or C(/etc/httpd/conf/httpd.conf)), C(/etc/haproxy/haproxy.cfg).
        type: path
      binary:
        description: The nginx binary used for C(nginx -T). Defaults to C(nginx) on the PATH.
        type: path
  include_pem:
    description:
      - Return each certificate's PEM (public data only) in RV(certificates[].pem), once per distinct certificate.
      - Turn off to make results from large fleets smaller.
    type: bool
    default: true
  chain_pem:
    description:
      - Also return each file's and each endpoint's chain as a list of PEM texts (RV(files[].chain_pem),
        RV(endpoints[].chain_pem)), ready for M(certops.backend_tls.cert_chain_verify)'s
        O(certops.backend_tls.cert_chain_verify#module:chain).
      - Off by default since 0.2.0, so that each certificate's PEM is in a result once; the chains name their
        certificates by fingerprint. Turn it on for a chain to hand to M(certops.backend_tls.cert_chain_verify)
        without a lookup.
    type: bool
    default: false
    version_added: 0.2.0
  query:
    description:
      - A JMESPath expression applied to the result. When given, only RV(query_result) and RV(summary) are
        returned, so a fleet run sends back only what matters.
    type: str
notes:
  - "Without O(discover) (and without C(async)), the host runs M(certops.backend_tls.backend_cert_material): it reads
    the files, reduces each private key to its type, size and public half, and probes the endpoints, with Python's
    standard library alone for PEM files with RSA or EC keys and for DER certificates. The certificates are then
    described on the controller, with this module's code: the result is the same, and the host neither needs
    cryptography for those files nor compiles the describing code. The dates (RV(certificates[].expired),
    RV(certificates[].days_remaining)) are then reckoned by the controller's clock. With O(discover), with arguments
    that hold private key text, or where the controller lacks cryptography (or, for O(query), jmespath), this module
    runs on the host as a whole."
  - The served chain comes from C(SSLSocket.get_unverified_chain()) on Python 3.13 and later, its private
    equivalent on 3.10 to 3.12, and C(openssl s_client -showcerts) on older Pythons (leaf only, with a
    warning, when no openssl binary exists).
  - An invalid argument fails the task with RV(error) set; a bad file or endpoint never does.
  - Endpoints are probed without verification; judge the chains with M(certops.backend_tls.cert_chain_verify).
  - Over TLS 1.3 a server judges the client certificate (or its absence) after the handshake is complete on the
    client side. When such a server asked for one, the probe waits for its verdict (an alert, or a session ticket)
    for about one second, or three handshake times if longer, never past O(timeout).
  - Some servers do not refuse a missing client certificate during the handshake; nginx with
    C(ssl_verify_client on) completes it and answers the HTTP request with status 400. Such endpoints are C(ok).
seealso:
  - module: certops.backend_tls.cert_chain_verify
"""

EXAMPLES = r"""
- name: Collect what the backend has on disk, serves, and is configured with
  certops.backend_tls.backend_cert_info:
    paths:
      - /etc/ssl/private/site.pem
      - /etc/nginx/certs/
    endpoints:
      - 127.0.0.1:443
      - host: 10.0.0.5
        port: 8443
        server_name: shop.example.com
      - host: 10.0.0.6
        port: 8443
        client_cert: /etc/haproxy/certs/lb-client.pem  # certificate, chain and key, as on the server line's crt
    discover:
      - nginx
      - type: haproxy
        config: /etc/haproxy/haproxy.cfg
  register: backend

- name: Sites renewed on disk but never reloaded
  ansible.builtin.debug:
    msg: "{{ backend.sites | selectattr('served_matches_disk', 'false') | map(attribute='name') }}"

- name: Fleet run returning only the certificates that expire within 30 days
  certops.backend_tls.backend_cert_info:
    discover: [nginx, apache, haproxy]
    include_pem: false
    query: "certificates[?days_remaining < `30`].{subject: subject, not_after: not_after}"
  register: expiring
"""

RETURN = r"""
certificates:
  description: "Every distinct certificate seen, in files or served, described once."
  returned: unless O(query) is given
  type: list
  elements: dict
  contains:
    fingerprint_sha256:
      description: "SHA-256 of the DER encoding, lowercase hex without colons."
      returned: always
      type: str
      sample: "3f1a0c...e2"
    fingerprint_sha1:
      description: "SHA-1 of the DER encoding, lowercase hex without colons."
      returned: always
      type: str
      sample: "9b2c4d...01"
    subject:
      description: "Subject as an RFC 4514 string."
      returned: always
      type: str
      sample: "CN=www.example.com"
    subject_cn:
      description: "Subject common name; null when there is none."
      returned: always
      type: str
      sample: www.example.com
    issuer:
      description: "Issuer as an RFC 4514 string."
      returned: always
      type: str
      sample: "CN=Example Issuing CA"
    serial_number:
      description: "Serial number in lowercase hex."
      returned: always
      type: str
      sample: "4f2a9c"
    not_before:
      description: "Start of validity (ISO 8601 UTC)."
      returned: always
      type: str
      sample: "2026-01-01T00:00:00Z"
    not_after:
      description: "End of validity (ISO 8601 UTC)."
      returned: always
      type: str
      sample: "2027-01-01T00:00:00Z"
    days_remaining:
      description: "Whole days until not_after; negative once expired."
      returned: always
      type: int
      sample: 39
    expired:
      description: "Whether not_after is in the past."
      returned: always
      type: bool
      sample: false
    not_yet_valid:
      description: "Whether not_before is in the future."
      returned: always
      type: bool
      sample: false
    sans:
      description: "Subject alternative names by type (dns and ip)."
      returned: always
      type: dict
      sample: {dns: [www.example.com], ip: []}
    public_key:
      description: "Public key type (RSA, EC, Ed25519, Ed448, DSA) with its size in bits and curve name."
      returned: always
      type: dict
      sample: {type: EC, size: 256, curve: secp256r1}
    signature_hash:
      description: "Hash algorithm of the signature; null for Ed25519 and Ed448."
      returned: always
      type: str
      sample: sha256
    is_ca:
      description: "The basic constraints CA flag."
      returned: always
      type: bool
      sample: false
    self_signed:
      description: "Whether issuer equals subject with matching key identifiers."
      returned: always
      type: bool
      sample: false
    key_usage:
      description: "Key usage bits that are set."
      returned: always
      type: list
      elements: str
      sample: [digital_signature]
    extended_key_usage:
      description: "Extended key usages (server_auth, client_auth, or dotted OIDs)."
      returned: always
      type: list
      elements: str
      sample: [server_auth]
    subject_key_id:
      description: "Subject key identifier in hex; null when absent."
      returned: always
      type: str
      sample: a1b2c3
    authority_key_id:
      description: "Authority key identifier in hex; null when absent."
      returned: always
      type: str
      sample: d4e5f6
    ocsp_urls:
      description: "OCSP responder URLs from the AIA extension."
      returned: always
      type: list
      elements: str
      sample: ["http://ocsp.example.com"]
    ca_issuers_urls:
      description: "caIssuers URLs from the AIA extension."
      returned: always
      type: list
      elements: str
      sample: ["http://ca.example.com/int.der"]
    pem:
      description: "The certificate as PEM (public data only)."
      returned: when O(include_pem) is true
      type: str
      sample: "-----BEGIN CERTIFICATE-----..."
files:
  description: "One entry per file read (given in O(paths) or referenced by a site)."
  returned: unless O(query) is given
  type: list
  elements: dict
  contains:
    path:
      description: "File path."
      returned: always
      type: str
      sample: /etc/nginx/certs/site.pem
    realpath:
      description:
        - "The file the path names once every symlink in it is followed (the path itself, normalised, when nothing
          is linked or the file does not exist). Two paths naming one file have the same C(realpath)."
      returned: always
      type: str
      sample: /etc/letsencrypt/archive/site/cert1.pem
    format:
      description: "V(pem), V(der), V(pkcs7) or V(pkcs12); null when the file could not be read."
      returned: always
      type: str
      sample: pem
    chain:
      description: "Fingerprints of the certificates in file order."
      returned: always
      type: list
      elements: str
      sample: [3f1a0c]
    leaf:
      description: "Fingerprint of the leaf, the certificate that issued no other in the file; null when the file holds no certificate."
      returned: always
      type: str
      sample: 3f1a0c
    chain_pem:
      description: "The same certificates as PEM texts."
      returned: when O(chain_pem) is true
      type: list
      elements: str
      sample: ["-----BEGIN CERTIFICATE-----..."]
    private_key:
      description:
        - Whether the file holds a private key, its type, whether it is encrypted, and whether it belongs to the
          leaf (null when unknown). Never the key itself.
      returned: always
      type: dict
      sample: {present: true, type: RSA, encrypted: false, matches_leaf: true}
    error:
      description:
        - Null, or code and message. Codes are V(NOT_FOUND), V(PERMISSION_DENIED) (also for a directory that
          cannot be listed), V(NOT_A_CERTIFICATE), V(TOO_LARGE), V(NOT_REGULAR_FILE) (a FIFO, socket or device,
          not read) and V(ENCRYPTED) (a password-protected PKCS#12 file).
      returned: always
      type: dict
      sample: {code: NOT_FOUND, message: no such file}
endpoints:
  description: "One entry per probed endpoint (given in O(endpoints) or a site's)."
  returned: unless O(query) is given
  type: list
  elements: dict
  contains:
    host:
      description: "Host probed."
      returned: always
      type: str
      sample: 127.0.0.1
    port:
      description: "Port probed."
      returned: always
      type: int
      sample: 443
    server_name:
      description: "SNI sent; null for none."
      returned: always
      type: str
      sample: www.example.com
    ok:
      description: "Whether the TLS handshake completed."
      returned: always
      type: bool
      sample: true
    error:
      description:
        - "Null, or code (DNS_FAILURE, CONNECTION_REFUSED, HOST_UNREACHABLE, TIMEOUT, CONNECTION_RESET, NOT_TLS,
          TLS_HANDSHAKE_FAILED, CLIENT_CERT_REQUIRED, CLIENT_CERT_REJECTED, UNSUPPORTED_SETTING) and message."
        - With O(endpoints[].key_type), C(TLS_HANDSHAKE_FAILED) also when the server sent a certificate of another
          key type, and C(UNSUPPORTED_SETTING) when only C(openssl s_client) could ask for it and it cannot here."
        - C(CONNECTION_REFUSED) only for a refused connection; a reset at accept or during the handshake is
          C(CONNECTION_RESET); C(HOST_UNREACHABLE) means no route to the host or its network, or this host may not
          connect to it.
        - C(CLIENT_CERT_REQUIRED) means the server asked for a client certificate, none was given
          (O(endpoints[].client_cert)), and it refused the connection (TLS 1.2 during the handshake, TLS 1.3 right
          after it). C(CLIENT_CERT_REJECTED) means it refused the client certificate given; the message names the
          server's alert (for example C(unknown ca), the server does not trust the certificate's issuer). Both
          come with the chain the server sent before it asked, in RV(endpoints[].chain).
        - When the client certificate or key cannot be used, the endpoint is not connected to and the code is
          the file's, with a message naming O(endpoints[].client_cert) or O(endpoints[].client_key) (never the
          key itself) - C(NOT_FOUND), C(PERMISSION_DENIED), C(TOO_LARGE), C(NOT_REGULAR_FILE),
          C(NOT_A_CERTIFICATE) (not PEM, no certificate, or no readable private key), C(ENCRYPTED) (a
          password-protected key), C(KEY_MISMATCH) (the key does not belong to the first certificate of the file).
      returned: always
      type: dict
      sample: {code: CLIENT_CERT_REQUIRED, message: "the server requires a client certificate: it asked for one and
        refused the connection without it (alert handshake failure); give the endpoint client_cert and client_key,
        as the load balancer presents them"}
    client_cert:
      description: "The client certificate file presented, as given in O(endpoints[].client_cert)."
      returned: when O(endpoints[].client_cert) is given
      type: str
      sample: /etc/haproxy/certs/lb-client.pem
    client_key:
      description: "The client key file used; null when the key is in the O(endpoints[].client_cert) file."
      returned: when O(endpoints[].client_cert) is given
      type: str
      sample: null
    proxy_protocol:
      description: "The PROXY protocol header sent before the handshake (V(v1) or V(v2)), as given in
        O(endpoints[].proxy_protocol) or found by O(discover)."
      returned: when a header was sent
      type: str
      sample: v1
    key_type:
      description: "The key type whose certificate was asked for, as given in O(endpoints[].key_type) or found by
        O(discover) (a server holding certificates of several key types)."
      returned: when one was asked for
      type: str
      sample: RSA
    tls_version:
      description: "Negotiated protocol version; null when the handshake did not complete."
      returned: always
      type: str
      sample: TLSv1.3
    cipher:
      description: "Negotiated cipher suite; null when the handshake did not complete."
      returned: always
      type: str
      sample: TLS_AES_256_GCM_SHA384
    chain:
      description:
        - Fingerprints of the certificates as served, leaf first.
        - Also filled for C(CLIENT_CERT_REQUIRED) and C(CLIENT_CERT_REJECTED), with the chain the server sent
          before it asked for the client certificate.
      returned: always
      type: list
      elements: str
      sample: [3f1a0c]
    chain_pem:
      description: "The served chain as PEM texts, ready for cert_chain_verify."
      returned: when O(chain_pem) is true
      type: list
      elements: str
      sample: ["-----BEGIN CERTIFICATE-----..."]
    handshake_ms:
      description: "Milliseconds from connected to handshake done; null when the handshake did not complete."
      returned: always
      type: float
      sample: 3.2
    elapsed_ms:
      description: "Milliseconds the whole probe took (resolve, connect and handshake); bounded by O(timeout)."
      returned: always
      type: float
      sample: 4.1
    matches_files:
      description: "Paths of the files whose leaf is the served leaf."
      returned: always
      type: list
      elements: str
      sample: [/etc/nginx/site.pem]
sites:
  description: "Declared (O(sites)) and discovered (O(discover)) sites, with their files checked and endpoint probed."
  returned: unless O(query) is given
  type: list
  elements: dict
  contains:
    name:
      description: "The declared name, or <server_type>-<first server name> when discovered; followed by
        C(+<key type>) (C(+rsa), C(+ec), C(+ed25519)) where the server serves certificates of several key types,
        one site each."
      returned: always
      type: str
      sample: nginx-www.example.com
    server_type:
      description: "Web server type (nginx, apache or haproxy); null for a declared site that names none."
      returned: always
      type: str
      sample: nginx
    origin:
      description: "V(declared) or V(discovered)."
      returned: always
      type: str
      sample: discovered
    config_file:
      description: "Configuration file the site was found in; null when declared."
      returned: always
      type: str
      sample: /etc/nginx/sites-enabled/www
    server_names:
      description: "Names the site serves."
      returned: always
      type: list
      elements: str
      sample: [www.example.com]
    listen:
      description: "Listen addresses as configured."
      returned: always
      type: list
      elements: str
      sample: ["127.0.0.1:443"]
    cert_file:
      description: "Certificate file; null when its path is only known at request time (C(DYNAMIC_PATH) in RV(sites[].error))."
      returned: always
      type: str
      sample: /etc/nginx/certs/www.pem
    key_file:
      description: "Key file; the certificate file when they are combined; null as for RV(sites[].cert_file)."
      returned: always
      type: str
      sample: /etc/nginx/certs/www.key
    chain_file:
      description: "Separate chain file; null when there is none."
      returned: always
      type: str
      sample: null
    endpoint:
      description:
        - The host, port and server_name probed for the site, and, when the site was declared with them, C(sni)
          (V(false)), C(client_cert) and C(client_key) (paths); C(proxy_protocol) when a PROXY protocol header is
          sent first (declared, or found by O(discover)).
        - Null for a declared site without an endpoint, and for a discovered server that no name a probe can send
          reaches (C(NO_PROBE_NAME) in RV(sites[].error)).
      returned: always
      type: dict
      sample: {host: 127.0.0.1, port: 443, server_name: www.example.com}
    key_matches_cert:
      description: "Whether the key file belongs to the certificate's leaf; null when unknown."
      returned: always
      type: bool
      sample: true
    served_matches_disk:
      description: "Whether the endpoint serves the leaf in cert_file. False is the classic renewed on disk but never reloaded. Null when unknown."
      returned: always
      type: bool
      sample: false
    error:
      description: >-
        The certificate file's or the endpoint's error, or C(DYNAMIC_PATH) for a discovered path only known at request
        time; null when fine. A site of one key type whose probe failed while the server's other key types were
        served is C(KEY_TYPE_NOT_SERVED) (the server loads the certificate and sends it to no client, under its own
        protocols and ciphers); one this host cannot ask for is C(UNSUPPORTED_SETTING) (see
        O(endpoints[].key_type)). A discovered nginx server with no name a probe can send (no server_name, only
        C(_), or regular expressions no example was found for) that is not the default server of any of its TLS
        sockets is C(NO_PROBE_NAME) and not probed, since a probe without a name gets the default server's
        certificate; where it is a socket's default server it is probed there without a name. A name nginx ignores
        for the server on a socket (a conflicting server name: an earlier server of the socket, or an earlier entry
        of its own, has it; C(.a.test) conflicts by either half) is no name that reaches it there: it is probed with a
        name nginx keeps for it, on the first of its TLS sockets where it has one, and otherwise as a server with no
        name. An HAProxy certificate is probed with the first of the names HAProxy knows it by (its crt-list
        filters, else its DNS names and its CN) that HAProxy answers with it, since it answers a name of a bind with
        the first certificate of each key type (RSA, ECDSA, any other) it loads with that name (a C(crt) directory's
        files in name order, skipping those whose name begins with a dot; a bundle's C(.ecdsa) before its C(.rsa));
        else without a name where it is its bind's first certificate (the default; there is none with
        C(strict-sni)); else it is C(NO_PROBE_NAME). An Apache
        VirtualHost is probed with the first of its names (its own, else the main server's ServerName, which one
        with an address C(*) inherits; one on IP addresses only is named by a reverse lookup, not made here) that no
        earlier VirtualHost of its address takes (the same name, or a ServerAlias wildcard); failing that, as for
        nginx, where it is its address's first VirtualHost it is probed without a name, and elsewhere it is
        C(NO_PROBE_NAME). An IP address is no name a probe sends, nginx's C($hostname) is this host's name, and a
        listen written with a host name is the address this host resolves it to (the server resolves it when it
        starts); one that does not resolve within 2 seconds, sharing its port with another address, leaves the
        default server there unknown (C(NO_PROBE_NAME)).
      returned: always
      type: dict
      sample: null
discovery:
  description: "One entry per O(discover) item: the config file, the number of sites found, or why it failed."
  returned: unless O(query) is given
  type: list
  elements: dict
  sample: [{server_type: nginx, config_file: /etc/nginx/nginx.conf, sites: 2, error: null}]
summary:
  description: "Counts over the result."
  returned: success
  type: dict
  sample: {certificates: 4, files: 3, endpoints: 2, sites: 2, expired: 1, earliest_not_after: "2026-01-01T00:00:00Z", errors: 0, sites_not_serving_disk: 1}
error:
  description: "Why the task failed: code V(INVALID_ARGUMENT) and a message that says how to write the argument."
  returned: on failure for an invalid argument
  type: dict
  sample: {code: INVALID_ARGUMENT, message: "endpoint 'https://host:443/': give host:port, not a URL (here: 'host:443')"}
query_result:
  description: "The result of O(query) applied to the full result."
  returned: when O(query) is given
  type: raw
  sample: [{subject: CN=www.example.com, not_after: "2026-12-01T00:00:00Z"}]
"""

from ansible_collections.certops.backend_tls.plugins.module_utils._base import CertError
from ansible_collections.certops.backend_tls.plugins.module_utils._collect import collect
from ansible_collections.certops.backend_tls.plugins.module_utils._gather import (
    ARGUMENT_SPEC,
    REQUIRED_ONE_OF,
    limits_problem,
)
from ansible_collections.certops.backend_tls.plugins.module_utils._infomodule import InfoModule


def main():
    module = InfoModule(argument_spec=ARGUMENT_SPEC, required_one_of=REQUIRED_ONE_OF, supports_check_mode=True)
    params = module.params
    module.require_dependencies()
    problem = limits_problem(params)
    if problem:
        module.fail_json(msg=problem[0], error=problem[1])

    try:
        result = collect(
            paths=params["paths"] or [], endpoints=params["endpoints"] or [], discover=params["discover"] or [],
            sites=params["sites"] or [],
            timeout=params["timeout"], concurrency=params["concurrency"], include_pem=params["include_pem"],
            chain_pem=params["chain_pem"],
            max_file_bytes=params["max_file_size"], run_command=module.nginx_dump,
        )
    except CertError as exc:
        module.fail_json(msg=exc.message, error=exc.as_dict())
    module.exit_info(result)


if __name__ == "__main__":
    main()
