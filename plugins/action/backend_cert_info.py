# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""backend_cert_info with its certificates described on the controller (the documentation is in
plugins/modules/backend_cert_info.py).

A host runs backend_cert_material, which needs only the standard library for the usual files: it reads the files,
reduces each private key to its public half, probes the endpoints and sends the certificates back as DER. This
process describes them (plugins/module_utils/_collect.py: describe, the code the module runs), so a host does not
import cryptography or compile the describing code for each run, and a fleet's collect costs each host about what
a `ping` costs. The result is the module's. The module itself runs, as before, for `discover` (a site's names may
come from its certificate, which decides what is probed), for `async`, for arguments holding private key text (the
host would mask it everywhere in what it sends, paths included), and where this process lacks cryptography or, for
a `query`, jmespath.
"""

from __future__ import annotations

import json
import traceback

from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase
from ansible.plugins.action.normal import ActionModule as ModuleAction

from ansible_collections.certops.backend_tls.plugins.module_utils import _deps
from ansible_collections.certops.backend_tls.plugins.module_utils._collect import describe
from ansible_collections.certops.backend_tls.plugins.module_utils._gather import (
    ARGUMENT_SPEC,
    HOST_OPTIONS,
    REQUIRED_ONE_OF,
    limits_problem,
)
from ansible_collections.certops.backend_tls.plugins.module_utils._infomodule import (
    answer_query,
    load_jmespath,
    withhold_keys,
)
from ansible_collections.certops.backend_tls.plugins.module_utils._secrets import private_key_strings, redact
from ansible_collections.certops.backend_tls.plugins.plugin_utils._task_args import validate
from ansible_collections.certops.backend_tls.plugins.plugin_utils._worker_gc import inherited_heap_frozen

HOST_MODULE = "certops.backend_tls.backend_cert_material"
# Imported here, in the process that loads this plugin before it forks the workers that run it (the strategy does,
# to read its class): each host's worker then has cryptography loaded already.
if _deps.cryptography_problem(minimum=_deps.MIN_CRYPTOGRAPHY_INFO) is None:
    from ansible_collections.certops.backend_tls.plugins.module_utils import _certs  # noqa: F401  pylint: disable=unused-import


class ActionModule(ModuleAction):

    def run(self, tmp=None, task_vars=None):
        with inherited_heap_frozen():  # 1,000 files: full collections in the worker 55 to 14 ms
            if not self._describes_here():
                return super().run(tmp, task_vars)
            result = ActionBase.run(self, tmp, task_vars)  # what every action checks first (check mode, async)
            del tmp  # tmp no longer has any effect
            if result.get("skipped") or result.get("failed"):
                return result
            result.update(self._task_result(task_vars))
            return result

    def _describes_here(self):
        """Whether this task's certificates are described here (see the module docstring)."""
        args = self._task.args
        if self._task.async_val or "discover" in args:  # even empty: it counts for required_one_of
            return False
        # Key text where a path belongs: the module's answer, as it gives it. So no argument described here holds
        # key text, and nothing here has any to mask.
        if private_key_strings(args):
            return False
        if _deps.cryptography_problem(minimum=_deps.MIN_CRYPTOGRAPHY_INFO):
            return False
        return not args.get("query") or load_jmespath()[0] is not None

    def _task_result(self, task_vars):
        # The arguments as a module gets them: through JSON, which leaves ansible-core's data tags behind.
        args = json.loads(json.dumps(self._task.args, cls=AnsibleJSONEncoder))
        params, masked, failed = validate(self._task.action, args, ARGUMENT_SPEC, secrets=(),
                                          required_one_of=REQUIRED_ONE_OF)
        if failed:
            return failed
        problem = limits_problem(params)
        if problem:
            return {"failed": True, "msg": problem[0], "error": problem[1]}
        try:
            # The host validates and expands its own options (paths: ~ and $VARS are the host's).
            out = self._execute_module(module_name=HOST_MODULE, task_vars=task_vars,
                                       module_args=dict((k, args[k]) for k in HOST_OPTIONS if k in args))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        if "material" not in out:  # failed on the host: its message says why, as the module's would
            return out
        # (a host that cannot be reached raised above: Ansible counts it unreachable, as for any module)
        try:
            described, problem = self._described(out.pop("material"), params)
        except Exception as exc:  # a defect: say what, as a failed module would, with nothing of a key in it
            return {"failed": True, "msg": "backend_cert_info failed: %s" % redact(str(exc), secrets=masked),
                    "exception": redact(traceback.format_exc(), secrets=masked)}
        if problem:
            return {"failed": True, "msg": problem[0], "error": problem[1]}
        out.update(withhold_keys(described))
        invocation = out.get("invocation", {}).get("module_args")
        if isinstance(invocation, dict):  # the options the controller used, as the module reports them
            invocation.update((k, params[k]) for k in ("discover", "include_pem", "chain_pem", "query"))
        return remove_values(out, masked) if masked else out

    @staticmethod
    def _described(material, params):
        """(the result for the host's material, None), or (None, (msg, error)) for a query that cannot be answered."""
        described = describe(material, include_pem=params["include_pem"], chain_pem=params["chain_pem"])
        described.pop("warnings")  # the host warned already (they are in its result)
        if params["query"]:
            return answer_query(load_jmespath()[0], params["query"], described)
        return described, None
