# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the two fact-gathering modules (backend_cert_info, lb_backend_info) do alike around their work: check
their dependencies, let the config readers run `nginx -T`, and hand the result back, with `query` applied."""

from __future__ import annotations

import os
import re
import subprocess
import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.certops.backend_tls.plugins.module_utils._deps import (
    MIN_CRYPTOGRAPHY_INFO,
    cryptography_problem,
)
from ansible_collections.certops.backend_tls.plugins.module_utils._secrets import KeySafeModule

NGINX_DUMP_TIMEOUT = 60  # seconds `nginx -T` may take; a configuration that holds it longer is read file by file


def load_jmespath():
    """(jmespath, None), or (None, the import's traceback). Imported only for a `query`: every other run of an info
    module would pay for the import (about 5 ms, once per host)."""
    try:
        import jmespath
    except ImportError:
        return None, traceback.format_exc()
    return jmespath, None


def withhold_keys(value):
    """The result, in place, with every string that holds PEM private key text replaced: a last guard, whatever
    path such text took into a result (a configuration value, an error message quoting one)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(item, str):
            if "PRIVATE KEY-----" in item:
                value[key] = "(withheld: private key text)"
        elif isinstance(item, (dict, list)):
            withhold_keys(item)
    return value


class InfoModule(KeySafeModule):
    """A KeySafeModule that gathers facts: never changes anything, answers `query` with JMESPath."""

    def require_dependencies(self):
        """Fail clearly when cryptography (the info modules' floor) or, for a query, jmespath is missing."""
        problem = cryptography_problem(minimum=MIN_CRYPTOGRAPHY_INFO)
        if problem:
            self.fail_json(msg=problem[0], exception=problem[1])
        if self.params.get("query"):
            self.jmespath, error = load_jmespath()
            if error:
                self.fail_json(msg=missing_required_lib("jmespath"), exception=error)

    def nginx_dump(self, server_type, config, binary=None):
        """`nginx -T` output for the config (the readers' view of its includes), or None when nginx cannot give it.

        Not run on a path that is no regular file (nginx would block reading a FIFO; the reader then says what it is),
        and bounded by NGINX_DUMP_TIMEOUT (an include of a FIFO blocks nginx too): the readers then read the files
        themselves. A binary that cannot be run is None too, never the task's failure.
        """
        binary = binary or self.get_bin_path("nginx")
        if server_type != "nginx" or not binary or (os.path.exists(config) and not os.path.isfile(config)):
            return None
        try:
            done = subprocess.run([binary, "-T", "-q", "-c", config], stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=NGINX_DUMP_TIMEOUT, check=False)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return None
        if done.returncode != 0:
            self.warn("nginx -T -c %s failed (%s): its files are read as they are, as though nginx accepted them"
                      % (config, nginx_complaint(done.stderr)))
            return None
        return done.stdout.decode("utf-8", "replace")

    def server_version(self, server_type, binary=None):
        """The installed server's own version text (`nginx -v` prints it on stderr), or None."""
        binary = binary or self.get_bin_path(server_type)
        if server_type != "nginx" or not binary:
            return None
        rc, out, err = self.run_command([binary, "-v"])
        return (err or out) if rc == 0 else None

    def exit_info(self, result):
        """The result's warnings to Ansible, then the result, or with `query` only {query_result, summary}."""
        for warning in result.pop("warnings", []):
            self.warn(warning)
        if self.params.get("query"):
            result, problem = answer_query(self.jmespath, self.params["query"], result)
            if problem:
                self.fail_json(msg=problem[0], error=problem[1])
        self.exit_json(changed=False, **withhold_keys(result))


def nginx_complaint(stderr):
    """nginx's first [emerg] (else last) line, what it quotes left out: a quoted word may be anything the file holds
    (a pasted key's line as an "unknown directive"); where it stands (in <file>:<line>) is kept."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    line = next((line for line in lines if "[emerg]" in line), lines[-1] if lines else "no message")
    line = re.sub(r"^\d+#\d+: ", "", line.split("[emerg]", 1)[-1].strip()) if "[emerg]" in line else line
    return re.sub(r'"[^"]*"', "(...)", line)[:300]


def answer_query(jmespath, query, result):
    """({query_result, summary}, None), or (None, (msg, error)) for a query JMESPath cannot evaluate."""
    try:
        return {"query_result": jmespath.search(query, result), "summary": result["summary"]}, None
    except jmespath.exceptions.JMESPathError as exc:
        return None, ("invalid query: %s" % exc, {"code": "INVALID_ARGUMENT", "message": str(exc)})
    except RecursionError:  # jmespath parses and evaluates recursively: "((((...))))" thousands deep
        message = "the query is nested too deeply to evaluate"
        return None, ("invalid query: %s" % message, {"code": "INVALID_ARGUMENT", "message": message})
