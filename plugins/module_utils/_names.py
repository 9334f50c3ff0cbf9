# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Server names as users write them, and how OpenSSL matches them against a certificate.

`normalize` turns a name the load balancer asks for into the form certificates carry (IDN to
A-labels, lower case, no trailing dot) and refuses what no load balancer can ask for (empty, spaces,
a leading dot, empty labels). `openssl_matches` is OpenSSL's X509_check_host (flags 0, as nginx calls
it and `openssl verify -verify_hostname` does) and X509_check_ip, for the `openssl` profile; its
table test runs the real `openssl verify` on the same certificates. `rule_matches` is how each load
balancer matches the name it verifies (docs/design/lb-view.md 1.3, 2 and 3); its table test runs the
real HAProxy, nginx and Apache (tests/integration/test_lb_name_rules.py).
"""

from __future__ import annotations

import encodings.idna
import re
import stringprep
import unicodedata

from ansible_collections.certops.backend_tls.plugins.module_utils import _base
from ansible_collections.certops.backend_tls.plugins.module_utils._base import CertError

_LABEL = re.compile(r"^[a-z0-9_*]([a-z0-9_*-]{0,61}[a-z0-9_*])?$")
# Python's "idna" codec is IDNA 2003. Browsers, curl (libidn2) and the CAs that issue for internationalised names
# use IDNA 2008 as UTS 46 (non-transitional) applies it. The two give the same A-label for a U-label except where
# the label holds one of the four "deviation" characters, which IDNA 2003 maps away and IDNA 2008 keeps: ß (to
# "ss"), final sigma ς (to U+03C3, small sigma), ZWNJ and ZWJ (to nothing). So IDNA 2003 turns "faß.example" into
# "fass.example", another domain than the one a client asks for (xn--fa-hia.example): a certificate for the genuine
# name would be a mismatch and one for the other domain a match. Such labels are converted as IDNA 2008 converts
# them (_idna2008_label); every other label is converted by the codec exactly as before.
_DEVIATIONS = ("\u00df", "\u03c2")  # ß, ς: valid in IDNA 2008 wherever they stand (PVALID, no context rule)
_JOINERS = ("\u200c", "\u200d")  # ZWNJ, ZWJ: valid only in a context (CONTEXTJ, RFC 5892 appendix A.1 and A.2)
# Capital sharp s: UTS 46 maps it to "ss" before Unicode 15.1 and to ß since, so its A-label depends on the client.
_UNSETTLED = ("\u1e9e",)
_IDNA2008_ONLY = _DEVIATIONS + _JOINERS + _UNSETTLED
_VIRAMA = 9  # canonical combining class of a virama: a joiner right after one is valid (RFC 5892 A.1 and A.2 rule 1)
_ALNUM = re.compile(r"^[A-Za-z0-9]$")


def normalize(name):
    """(A-label lower-case name without trailing dot, or the IP address text) -> str; CertError INVALID_ARGUMENT."""
    if not isinstance(name, str):
        raise CertError("INVALID_ARGUMENT", "server name %r is not a string" % (name,))
    text = name.strip()
    if not text:
        raise CertError("INVALID_ARGUMENT", "an empty server name checks nothing; give the name the load balancer "
                        "sends (SNI) and verifies")
    address = _base.ip_address(text.strip("[]") if text.startswith("[") else text)
    if address is not None:
        return str(address)
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1]  # the root label: a.test. is a.test
    if text.startswith("."):
        raise CertError("INVALID_ARGUMENT", "server name %r starts with a dot; OpenSSL reads it as 'any name under "
                        "%s', which no WebPKI client asks for: only the openssl name rule (nginx's proxy_ssl_name) "
                        "takes it" % (name, text[1:]))
    try:
        if any(c in _IDNA2008_ONLY for c in text):
            text = ".".join(_idna2008_label(label, name) if any(c in _IDNA2008_ONLY for c in label) else label
                            for label in encodings.idna.dots.split(text))
        ascii_name = text.encode("idna").decode("ascii") if any(ord(c) > 127 for c in text) else text
    except UnicodeError as exc:
        raise CertError("INVALID_ARGUMENT", "server name %r is not a valid internationalised name: %s" % (name, exc))
    ascii_name = ascii_name.lower()
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise CertError("INVALID_ARGUMENT", "server name %r is not a DNS name (letters, digits, '-', '_' and one "
                        "'*' wildcard; labels of 1-63 characters separated by single dots)" % (name,))
    if "*" in ascii_name and (labels[0] != "*" or "*" in ".".join(labels[1:]) or len(labels) < 3):
        raise CertError("INVALID_ARGUMENT", "server name %r: a wildcard stands for the whole left-most label of a "
                        "name with at least three labels, like *.example.com" % (name,))
    return ascii_name


def _idna2008_label(label, name):
    """The A-label IDNA 2008 (UTS 46, non-transitional) gives a label holding ß, ς, ZWNJ or ZWJ: nameprep's mapping
    (case folded, compatibility forms composed: the same as UTS 46's for every other character) with those
    characters kept, then "xn--" and its Punycode. UnicodeError for what nameprep refuses; CertError
    INVALID_ARGUMENT, asking for the A-label, where the A-label cannot be told here: a joiner that does not follow a
    virama (IDNA 2008 then decides by the letters' joining types, which Python does not know) and capital sharp s
    (its mapping changed with Unicode 15.1)."""
    for index, char in enumerate(label):
        if char in _UNSETTLED or (char in _JOINERS and not (
                index and unicodedata.combining(label[index - 1]) == _VIRAMA)):
            raise CertError("INVALID_ARGUMENT", "server name %r holds U+%04X, whose IDNA 2008 conversion cannot be "
                            "told here (a client may ask for another name than the collection would check): give the "
                            "name as its A-label (xn--...), as the certificate carries it" % (name, ord(char)))
    mapped = "".join(char if char in _DEVIATIONS + _JOINERS else
                     "" if stringprep.in_table_b1(char) else stringprep.map_table_b2(char) for char in label)
    mapped = unicodedata.normalize("NFKC", mapped)  # leaves ß, ς and the joiners as they are
    # nameprep's prohibited characters and bidirectional rules, checked on the label without the characters it would
    # have mapped away (they are neither prohibited nor right-to-left)
    encodings.idna.nameprep("".join(char for char in label if char not in _DEVIATIONS + _JOINERS))
    return "xn--" + mapped.encode("punycode").decode("ascii")


def _lower(text):
    """ASCII-only lower case, as OpenSSL compares (non-ASCII bytes compare as they are)."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def _valid_star(pattern):
    """Index of the one wildcard OpenSSL accepts in pattern (a certificate's name), else None."""
    star, dots, at_label_start, hyphen, idna = None, 0, True, False, False
    for index, char in enumerate(pattern):
        if char == "*":
            at_start = at_label_start
            at_end = index == len(pattern) - 1 or pattern[index + 1] == "."
            if star is not None or idna or dots or not (at_start or at_end):
                return None
            star, at_label_start = index, False
        elif _ALNUM.match(char):
            if at_label_start and pattern[index:index + 4].lower() == "xn--":
                idna = True
            at_label_start, hyphen = False, False
        elif char == ".":
            if hyphen or at_label_start:
                return None
            at_label_start, hyphen = True, False
            dots += 1
        elif char == "-":
            if at_label_start:
                return None
            hyphen = True
        else:
            return None
    if at_label_start or hyphen or dots < 2:
        return None
    return star


def _wildcard_match(prefix, suffix, subject):
    if len(subject) < len(prefix) + len(suffix):
        return False
    if _lower(subject[:len(prefix)]) != _lower(prefix):
        return False
    middle = subject[len(prefix):len(subject) - len(suffix)]
    if _lower(subject[len(subject) - len(suffix):]) != _lower(suffix):
        return False
    whole_label = not prefix and suffix.startswith(".")
    if whole_label and not middle:
        return False
    if not whole_label and subject[:4].lower() == "xn--":
        return False  # IDNA labels cannot match partial wildcards
    if middle == "*":
        return True
    return all(_ALNUM.match(c) or c == "-" for c in middle)


def _host_equal(pattern, subject):
    """OpenSSL's equal_wildcard: pattern is the certificate's name, subject the name asked for."""
    if "\x00" in pattern:
        return False
    star = _valid_star(pattern)
    if star is None:
        return _lower(pattern) == _lower(subject)
    return _wildcard_match(pattern[:star], pattern[star + 1:], subject)


def openssl_matches(name, dns_sans, ip_sans, common_names):
    """Whether OpenSSL (X509_check_ip for an address, X509_check_host otherwise) accepts name for the leaf.

    The CN is only consulted when the certificate has no DNS name in its subjectAltName.
    """
    address = _base.ip_address(name)
    if address is not None:
        return any(getattr(ip, "packed", None) == address.packed for ip in ip_sans)
    return _check_host(name, dns_sans, common_names)


def _under(pattern, subject):
    """OpenSSL's equal_nocase after skip_prefix, for a name asked for that starts with a dot and has more after it
    (X509_check_host sets _X509_CHECK_FLAG_DOT_SUBDOMAINS then, and equal_wildcard skips its wildcard handling):
    the certificate's name matches when its last len(subject) characters equal subject, ASCII case-insensitive,
    and the characters before them hold no NUL; a name no longer than subject must equal it. So `.a.test` is any
    name under a.test, at any depth (and `*.a.test` too, its `*` being text), but not a.test itself."""
    extra = len(pattern) - len(subject)
    if extra > 0 and "\x00" not in pattern[:extra]:
        pattern = pattern[extra:]
    return len(pattern) == len(subject) and "\x00" not in pattern and _lower(pattern) == _lower(subject)


def _check_host(name, dns_sans, common_names):
    """X509_check_host(flags 0): the DNS SANs, or every CN when the leaf has no DNS SAN; the name is text. A name
    starting with a dot (and more) is OpenSSL's "any name under it" (_under)."""
    candidates = dns_sans if dns_sans else common_names
    if len(name) > 1 and name.startswith("."):
        return any(_under(candidate, name) for candidate in _texts(candidates))
    return any(_host_equal(candidate, name) for candidate in _texts(candidates))


def _texts(values):
    return [value for value in values or [] if isinstance(value, str)]


def _nginx_ssl_name(name):
    """nginx's ngx_http_upstream_ssl_name: the name up to its first ':' (a port) after a leading `[...]`."""
    start = max(name.find("]"), 0) if name.startswith("[") else 0
    colon = name.find(":", start)
    return name if colon < 0 else name[:colon]


def _haproxy_hostcheck(pattern, hostname):
    """HAProxy 2.6 ssl_sock_srv_hostcheck: pattern is the certificate's name, hostname the one verified."""
    if _lower(pattern) == _lower(hostname):
        return True
    label_end = pattern.find(".")
    label = pattern[:label_end]
    if label_end < 0 or label.count("*") != 1:
        return False  # no dot, or not exactly one '*' in the left-most label: exact match only
    host_label_end = hostname.find(".")
    if host_label_end < 0 or _lower(pattern[label_end:]) != _lower(hostname[host_label_end:]):
        return False  # every label but the left-most compared as text
    if host_label_end < len(label) - 1:
        return False  # the '*' may match nothing, but the rest of the label must fit
    star = label.index("*")
    prefix, suffix = label[:star], label[star + 1:]
    return (_lower(hostname[:len(prefix)]) == _lower(prefix)
            and _lower(hostname[host_label_end - len(suffix):host_label_end]) == _lower(suffix))


def _apache_match(identifier, name):
    """mod_ssl's compare of one ID: ASCII case-insensitive; an ID starting `*.` also stands for any name whose
    text after its first dot equals the ID's after the `*` (one label, any characters, any label count)."""
    if identifier.startswith("*."):
        dot = name.find(".")
        if dot >= 0 and _lower(identifier[1:]) == _lower(name[dot:]):
            return True
    return _lower(identifier) == _lower(name)


NAME_RULES = ("openssl", "haproxy", "apache", "apache_cn")


def rule_matches(rule, name, dns_sans, ip_sans, common_names):
    """Whether a load balancer using `rule` accepts `name` (a str, as configured: may be an IP literal) for a
    leaf with these dNSName SANs (list of str), IP SANs (list of ipaddress objects) and subject CNs (list of str).

    As measured on the real servers (tests/integration/test_lb_name_rules.py) and read in their sources:
    - openssl (nginx 1.22 `proxy_ssl_name`): nginx first cuts the name at its first ':' outside a leading
      `[...]` (a port; an unbracketed IPv6 literal is cut to nothing and matches nothing), then calls
      X509_check_host(cert, name, flags 0) for every name, an IP literal included: nginx never calls
      X509_check_ip, so an IP name is text compared with the DNS SANs (or the CNs when there is no DNS SAN) and
      IP SANs are never used. For a DNS name this is `openssl_matches`; for an IP literal it is not.
    - haproxy (HAProxy 2.6 ssl_sock_srv_verifycbk / ssl_sock_srv_hostcheck): every DNS SAN, then every CN
      (even with DNS SANs), each up to its first NUL byte (a C string: the NUL-prefix weakness, so
      `a.test<NUL>.evil` is a.test); IP SANs never (an IP literal is text); ASCII case-insensitive; one `*` anywhere in
      the certificate name's left-most label (`w*`, `*w`, `a*b`, `xn--*`), matching within that label, possibly
      nothing; no minimum label count (`*.com` matches `a.com`); no trailing-dot or IDNA normalisation.
    - apache (mod_ssl 2.4 modssl_X509_match_name, SSLProxyCheckPeerName on): every DNS SAN, then every CN (even
      with DNS SANs); IP SANs never; ASCII case-insensitive; a wildcard only as a whole `*.` left-most label, for
      exactly one label of any characters (`*.com` matches `a.com`); no partial wildcard; no normalisation.
    - apache_cn (SSLProxyCheckPeerCN on with SSLProxyCheckPeerName off): the FIRST CN only, with the same
      `*.` wildcard; a leaf without a CN matches nothing.
    """
    if rule not in NAME_RULES:
        raise CertError("INVALID_ARGUMENT", "name rule must be one of %s, not %r" % (", ".join(NAME_RULES), rule))
    if not isinstance(name, str):
        raise CertError("INVALID_ARGUMENT", "server name %r is not a string" % (name,))
    if rule == "openssl":
        name = _nginx_ssl_name(name)
        return bool(name) and _check_host(name, dns_sans, common_names)
    if rule == "haproxy":
        # HAProxy hands each name to its check as a C string (ASN1_STRING_to_UTF8): a NUL ends it there, so
        # `a.example.test<NUL>.evil` is a.example.test to HAProxy (the name hunt of 2026-12-07)
        return any(_haproxy_hostcheck(candidate.split("\0", 1)[0], name)
                   for candidate in _texts(dns_sans) + _texts(common_names))
    if rule == "apache":
        return any(_apache_match(candidate, name) for candidate in _texts(dns_sans) + _texts(common_names))
    first_cn = (list(common_names or [])[:1] or [None])[0]
    return isinstance(first_cn, str) and _apache_match(first_cn, name)


def checkable_names(names):
    """Every name a load balancer may ask a site for, normalised, in order, without repeats.

    names as server configs write them: nginx's `.example.com` is example.com and *.example.com; regular
    expressions (`~...`), catch-alls (`_`, empty), variables and trailing wildcards (`www.example.*`) name no
    certificate name and are left out.
    """
    out = []
    for raw in list(names or []):
        if not isinstance(raw, str):
            continue
        text = raw.strip()
        candidates = [text[1:], "*" + text] if text.startswith(".") and len(text) > 1 else [text]
        for candidate in candidates:
            if not candidate or candidate == "_" or candidate.startswith("~") or "$" in candidate:
                continue
            try:
                name = normalize(candidate)
            except CertError:
                continue
            if name not in out:
                out.append(name)
    return out
