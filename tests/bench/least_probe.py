# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A bench reference, not part of the collection: the least a module can do for a list of TLS endpoints.

`make bench` copies it into its work directory's `library/` and times it beside the collection's module over the
same endpoints: each endpoint's handshake (16 at a time, Python's ssl with no verification, as the collection's probes
run them), the chain it served sent back as base64 DER, and nothing else -- no description, no validation beyond
AnsibleModule's, no error codes (an endpoint that fails is null). What it costs beyond the ping playbook is the part
of a bound that no implementation on this machine, with this OpenSSL and this ansible-core, can go under; the
collection's own row minus this one is what the collection's work adds."""

from __future__ import annotations

import base64
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: least_probe
short_description: Bench reference (tests/bench); not part of the collection.
description: The handshakes of a list of endpoints and the chains they serve, nothing else.
options:
  endpoints:
    description: Endpoints, each C(host), C(port) and optional C(server_name).
    type: list
    elements: dict
    required: true
author: certops maintainers (@certops)
"""


def _chain(tls):
    """The served chain's DER (Python >= 3.10: every certificate sent; before it: the leaf)."""
    chain = getattr(tls._sslobj, "get_unverified_chain", None)  # pylint: disable=protected-access
    if chain is None:
        leaf = tls.getpeercert(binary_form=True)
        return [leaf] if leaf else []
    return [cert.public_bytes(ssl._ssl.ENCODING_DER) for cert in chain() or ()]  # pylint: disable=protected-access


def main():
    module = AnsibleModule(argument_spec={"endpoints": {"type": "list", "elements": "dict", "required": True}},
                           supports_check_mode=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    def one(endpoint):
        try:
            with socket.create_connection((endpoint["host"], int(endpoint["port"])), timeout=5) as sock:
                with context.wrap_socket(sock, server_hostname=endpoint.get("server_name")) as tls:
                    return [base64.b64encode(der).decode("ascii") for der in _chain(tls)]
        except (OSError, ValueError):  # ssl.SSLError is an OSError
            return None

    with ThreadPoolExecutor(16) as pool:
        chains = list(pool.map(one, module.params["endpoints"]))
    module.exit_json(changed=False, chains=chains, served=sum(1 for c in chains if c))


if __name__ == "__main__":
    main()
