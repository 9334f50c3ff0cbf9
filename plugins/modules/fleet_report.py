#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_report
short_description: Write a fleet report as JSON, HTML and a Prometheus textfile, on the controller
version_added: 0.2.0
description:
  - Renders one fleet report (the role's C(report.json) schema, see C(docs/reports.md)) into each file of O(files)
    and replaces each file atomically (a temporary file in the same directory, then a rename), so AWX or the
    node_exporter textfile collector never reads half a file.
  - Runs entirely on the controller, whatever host the task runs for, in Ansible's own worker process. It starts no
    module process (M(ansible.builtin.copy) starts two per file), which is why the role
    C(certops.backend_tls.cert_remediation) writes its reports with it.
  - V(prometheus) keeps what the file already holds for hosts that are not in the report (a C(--limit) run does
    not silence the alerts of the others), as the P(certops.backend_tls.report_prometheus#filter) filter does
    with its O(certops.backend_tls.report_prometheus#filter:previous).
  - A file whose content would not change is left alone. The report holds no private key material.
author:
  - certops maintainers (@certops)
options:
  report:
    description:
      - The fleet report, as the role builds it (C(schema_version), C(run), C(mode), C(hosts), ...).
    type: dict
    required: true
  files:
    description: The files to write.
    type: list
    elements: dict
    required: true
    suboptions:
      format:
        description:
          - V(json) (indented, keys sorted, ending in a newline),
            V(html) (P(certops.backend_tls.report_html#filter)),
            V(prometheus) (P(certops.backend_tls.report_prometheus#filter)).
        type: str
        choices: [json, html, prometheus]
        required: true
      path:
        description:
          - The file on the controller. Its directory must exist; it is not created, so that a mistyped path fails
            instead of writing where nobody reads.
          - A relative path is relative to the playbook's directory, as for a module run on the controller, not to the
            directory C(ansible-playbook) was started from.
          - A path that is a FIFO, socket or device (or a link to one) fails the task with C(NOT_REGULAR_FILE); a
            FIFO would block the read of the previous Prometheus file. A previous Prometheus file over 64 MiB fails it
            with C(TOO_LARGE).
        type: path
        required: true
  mode:
    description: The permissions of each file written.
    type: raw
    default: "0644"
attributes:
  action:
    support: full
    description: An action plugin; everything happens on the controller.
  check_mode:
    support: full
    description: Nothing is written; RV(files[].changed) says which files would change.
  diff_mode:
    support: none
    description: No diff is returned (an HTML report is not read as a diff).
seealso:
  - plugin: certops.backend_tls.report_html
    plugin_type: filter
  - plugin: certops.backend_tls.report_prometheus
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Write this run's report beside the playbook
  certops.backend_tls.fleet_report:
    report: "{{ my_fleet_report }}"
    files:
      - {format: json, path: "{{ playbook_dir }}/reports/report.json"}
      - {format: html, path: "{{ playbook_dir }}/reports/report.html"}
      - {format: prometheus, path: /var/lib/node_exporter/textfile/backend_tls.prom}
  run_once: true
  check_mode: false  # a report about the run, written in check mode too
"""

RETURN = r"""
files:
  description: One entry per file of O(files), in order.
  returned: success
  type: list
  elements: dict
  contains:
    format:
      description: The format written.
      returned: always
      type: str
      sample: json
    path:
      description: The file's absolute path.
      returned: always
      type: str
      sample: /srv/reports/report.json
    changed:
      description: Whether the file's content changed (or, in check mode, would change).
      returned: always
      type: bool
      sample: true
    size:
      description: The size of the content in bytes.
      returned: always
      type: int
      sample: 48213
error:
  description:
    - Why the task failed, as C({code, message}) - V(INVALID_ARGUMENT), V(NOT_FOUND) (the directory does not exist),
      V(PERMISSION_DENIED), V(NOT_REGULAR_FILE), V(TOO_LARGE) or V(WRITE_FAILED). The files written before the
      failing one stay written; the failing one keeps what it held.
  returned: failure
  type: dict
  sample: {code: NOT_FOUND, message: "cannot write /srv/reports/report.json: No such file or directory"}
"""
