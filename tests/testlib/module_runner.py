"""Run a module's main() in-process exactly as Ansible would, and read the JSON it prints.

exit_json / fail_json are not patched: what the tests read is what the controller would get,
with `invocation` added and every no_log value masked by AnsibleModule itself.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from ansible.module_utils.testing import patch_module_args


def run_main(main, args, expect="exit"):
    """Returns the module's result; asserts it failed (expect='fail') or did not (expect='exit')."""
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out), pytest.raises(SystemExit) as info:
        main()
    result = json.loads(out.getvalue())
    failed = bool(result.get("failed")) or info.value.code not in (0, None)
    assert failed is (expect == "fail"), result
    return result
