# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cert_chain_verify on the controller, in Ansible's own process (the documentation is in
plugins/modules/cert_chain_verify.py).

Where the module would run on the controller with the controller's own Python -- a local connection (as
`delegate_to: localhost`), the interpreter the one running Ansible (as for the implicit localhost), no become, no
async, no task environment -- starting a module process would only repeat what this process has loaded: the task
runs here, with the same arguments, checks and result (plugins/module_utils/_verify_task.py). Anywhere else the
module runs as usual.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
import warnings

from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase
from ansible.plugins.action.normal import ActionModule as ModuleAction

from ansible_collections.certops.backend_tls.plugins.module_utils._secrets import (
    private_key_strings,
    redact,
    redact_all,
)
from ansible_collections.certops.backend_tls.plugins.module_utils._verify_task import (
    ARGUMENT_SPEC,
    MUTUALLY_EXCLUSIVE,
    REQUIRED_ONE_OF,
    run,
)
from ansible_collections.certops.backend_tls.plugins.plugin_utils._task_args import validate


def _same_python(interpreter, executable):
    """Whether the interpreter path names the Python running Ansible: one file (a venv's python, python3 and
    python3.11), in one directory (a venv's python and its base interpreter are one file, with other packages)."""
    if not isinstance(interpreter, str) or not os.path.isabs(interpreter):
        return False
    return (os.path.dirname(os.path.normpath(interpreter)) == os.path.dirname(os.path.normpath(executable))
            and os.path.realpath(interpreter) == os.path.realpath(executable))


@contextlib.contextmanager
def _as_a_local_module(directory):
    """Run the block as a local connection runs a module: in the task's base directory (the playbook's), where
    relative paths are read, with PWD naming it (as the module's /bin/sh sets it; a path may hold $PWD), and with
    Python's warnings unseen (a module's stderr is not shown; here they would reach the console). This process runs
    this one task: what is changed is put back after it."""
    try:
        previous = os.getcwd()
    except OSError:  # the directory Ansible started in is gone; the module never needs it either
        previous = None
    pwd = os.environ.get("PWD")
    os.chdir(directory)
    os.environ["PWD"] = directory
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        if pwd is None:
            os.environ.pop("PWD", None)
        else:
            os.environ["PWD"] = pwd
        if previous is not None:
            try:
                os.chdir(previous)
            except OSError:
                pass


class ActionModule(ModuleAction):

    def run(self, tmp=None, task_vars=None):
        if not self._runs_here(task_vars or {}):
            return super().run(tmp, task_vars)
        result = ActionBase.run(self, tmp, task_vars)  # what every action checks first (check mode, async)
        del tmp  # no temporary directory: nothing is sent anywhere
        if result.get("skipped") or result.get("failed"):
            return result
        key_strings = private_key_strings(self._task.args)  # [(path, text)]: the same paths after JSON below
        secrets = {str(text) for _path, text in key_strings}
        try:
            # The arguments as the module gets them: through JSON, which leaves ansible-core's data tags (the origin
            # of each value, its tagged types) behind and gives dates as ISO text.
            args = json.loads(json.dumps(self._task.args, cls=AnsibleJSONEncoder))
            with _as_a_local_module(self._loader.get_basedir()):
                out = self._task_result(args, key_strings, secrets)
        except Exception as exc:  # a defect: say what, as a failed module would, with nothing of a key in it
            out = {"failed": True, "msg": "cert_chain_verify failed: %s" % redact(str(exc), secrets=secrets),
                   "exception": redact(traceback.format_exc(), secrets=secrets)}
        result.update(out)
        return result

    def _runs_here(self, task_vars):
        """Whether the module would run on the controller, with the Python running Ansible, as this process can."""
        if (self._connection.transport != "local" or self._play_context.become or self._task.async_val
                or any(self._task.environment or ())):  # the module process would get that environment
            return False
        host_vars = task_vars
        if self._task.delegate_to:
            host_vars = (task_vars.get("ansible_delegated_vars") or {}).get(self._task.delegate_to) or {}
        interpreter = host_vars.get("ansible_python_interpreter")
        if not interpreter:
            return False  # discovered on the host: not known to be this one
        try:
            interpreter = self._templar.template(interpreter)
        except Exception:  # omitted (ansible-core then discovers one), undefined...: the module decides, as always
            return False
        return isinstance(interpreter, str) and _same_python(interpreter.strip(), sys.executable)

    def _task_result(self, args, key_strings, secrets):
        """The module's result for args: validated as AnsibleModule validates them, key text masked throughout."""
        params, masked, failed = validate(self._task.action, args, ARGUMENT_SPEC, secrets=secrets,
                                          required_one_of=REQUIRED_ONE_OF, mutually_exclusive=MUTUALLY_EXCLUSIVE)
        if failed:
            return failed
        result = run(params, key_strings)
        if result.get("failed"):
            result["msg"] = redact(str(result["msg"]), secrets=masked)
            result = redact_all(result, secrets=masked)
        return remove_values(result, masked) if masked else result
