# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Keep the versions in step with plugins/module_utils/_deps.py. The floors are tested on every target
    # Python by tests/integration/test_target_pythons.py (venvs from requirements-target-*.txt).

    INFO = r"""
requirements:
  - cryptography >= 3.3 on the host the module runs on (tested with 3.3.2 on Python 3.8, 3.9, 3.10, 3.12 and 3.13)
  - jmespath, only when O(query) is used
options: {}
"""

    VERIFY = r"""
requirements:
  - cryptography >= 42.0 on the host the module runs on (the controller by default; tested with 42.0.0 on
    Python 3.8, 3.9, 3.10, 3.12 and 3.13)
options: {}
"""
