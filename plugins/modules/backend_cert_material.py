#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: backend_cert_material
short_description: The host half of backend_cert_info (certificate material, no description, no private key bytes)
version_added: 0.2.0
description:
  - What M(certops.backend_tls.backend_cert_info) runs on each host when it describes the certificates on the
    controller (its action plugin does this for O(paths), O(endpoints) and O(sites)). It returns the files read,
    each certificate as DER, each private key reduced to its type, size and public half, the declared sites, and
    the chain each endpoint served.
  - It needs only Python's standard library for PEM files with RSA or EC keys (PKCS#1, SEC 1, PKCS#8, encrypted
    PKCS#8) and DER certificates. A file in another format (PKCS#12, a DER key, PEM PKCS#7), or with another key
    type, is read with cryptography on the host, as M(certops.backend_tls.backend_cert_info) reads it.
  - Use M(certops.backend_tls.backend_cert_info), which runs this module and describes what it returns; its result
    is the same either way. This module's result is an internal format and may change in any release.
author:
  - certops maintainers (@certops)
extends_documentation_fragment:
  - certops.backend_tls.attributes.READ_ONLY
  - certops.backend_tls.collect_options
requirements:
  - cryptography >= 3.3 on the host, only for the files named above as needing it
options:
  paths:
    description: As M(certops.backend_tls.backend_cert_info)'s O(certops.backend_tls.backend_cert_info#module:paths).
    type: list
    elements: path
  endpoints:
    description:
      - As M(certops.backend_tls.backend_cert_info)'s O(certops.backend_tls.backend_cert_info#module:endpoints).
    type: list
    elements: raw
seealso:
  - module: certops.backend_tls.backend_cert_info
"""

EXAMPLES = r"""
# Normally run by backend_cert_info; called directly, it shows what a host sends the controller.
- name: What this host would send for one site
  certops.backend_tls.backend_cert_material:
    sites:
      - name: www
        cert_path: /etc/nginx/tls/www.pem
        key_path: /etc/nginx/tls/www.key
        endpoint: 127.0.0.1:443
  register: material
"""

RETURN = r"""
material:
  description:
    - What M(certops.backend_tls.backend_cert_info) describes on the controller (an internal format).
    - C(ders) holds each distinct certificate once, base64 DER; C(files) maps each path to its material
      (C(realpath), and C(error), or C(raw) (the index of a DER file to read as a whole), or C(format), C(ders)
      (indexes), C(key) and C(problems)); C(expanded), C(targets), C(sites), C(probes) and C(warnings) are the
      paths walked, the endpoints and sites parsed, and the handshakes.
    - A private key appears only as its summary (C(type), C(size), C(encrypted)) and its public half (C(_spki),
      the SubjectPublicKeyInfo DER, base64).
  returned: success
  type: dict
  sample: {ders: [], files: {}, expanded: [], targets: [], sites: [], probes: [], warnings: []}
error:
  description: Why the task failed (C(INVALID_ARGUMENT) for an invalid argument).
  returned: failure
  type: dict
  sample: {code: INVALID_ARGUMENT, message: "endpoint 'https://x/': give host:port, not a URL"}
"""

from ansible_collections.certops.backend_tls.plugins.module_utils._base import CertError
from ansible_collections.certops.backend_tls.plugins.module_utils._gather import (
    ARGUMENT_SPEC,
    HOST_OPTIONS,
    CryptographyMissing,
    gather,
    limits_problem,
)
from ansible_collections.certops.backend_tls.plugins.module_utils._secrets import KeySafeModule


def main():
    module = KeySafeModule(argument_spec=dict((name, ARGUMENT_SPEC[name]) for name in HOST_OPTIONS),
                           required_one_of=[("paths", "endpoints", "sites")], supports_check_mode=True)
    params = module.params
    problem = limits_problem(params)
    if problem:
        module.fail_json(msg=problem[0], error=problem[1])
    try:
        material = gather(paths=params["paths"] or [], endpoints=params["endpoints"] or [],
                          sites=params["sites"] or [], timeout=params["timeout"], concurrency=params["concurrency"],
                          max_file_bytes=params["max_file_size"])
    except CertError as exc:
        module.fail_json(msg=exc.message, error=exc.as_dict())
    except CryptographyMissing as exc:
        module.fail_json(msg=exc.args[0], exception=exc.args[1])
    for warning in material["warnings"]:
        module.warn(warning)
    module.exit_json(changed=False, material=material)


if __name__ == "__main__":
    main()
