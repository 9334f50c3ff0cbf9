# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The options of backend_cert_info that backend_cert_material (its host half) takes as they are.
    DOCUMENTATION = r"""
options:
  sites:
    description:
      - Declared sites. Each is collected and checked like a discovered one.
      - These are the keys of the role's C(cert_remediation_sites) that describe what a site has and serves; the
        role passes only these (before 0.2.0 the module also accepted, and ignored, the role's V(source),
        V(owner), V(group), V(test_command) and V(reload_command)).
    type: list
    elements: dict
    suboptions:
      name:
        description: Site name.
        type: str
        required: true
      server_type:
        description: Web server type.
        type: str
        choices: [nginx, apache, haproxy]
      cert_path:
        description: Certificate file (leaf first, or a full HAProxy PEM).
        type: path
        required: true
      key_path:
        description: Private key file. Defaults to O(sites[].cert_path) (combined file).
        type: path
      chain_path:
        description: Separate chain file, if the server uses one.
        type: path
      endpoint:
        description: Where the site is served, C(host:port) or C({host, port, server_name}).
        type: raw
      server_names:
        description: Names the site must serve; the first is the SNI when the endpoint names none.
        type: list
        elements: str
        default: []
  timeout:
    description:
      - Seconds allowed per endpoint, name resolution, connect and handshake together. An endpoint never
        takes longer than this (plus a small margin), whatever the peer does.
    type: float
    default: 5
  concurrency:
    description: How many endpoints are probed at the same time.
    type: int
    default: 16
  max_file_size:
    description:
      - Files larger than this many bytes are not read (error C(TOO_LARGE)).
      - At most 67108864 (64 MiB); a larger value fails the task. Certificate and key files are a few kilobytes,
        a large CA bundle well under one megabyte.
    type: int
    default: 1048576
"""
