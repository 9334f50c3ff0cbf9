# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Keep the versions in step with plugins/module_utils/_deps.py.

    INFO = r"""
requirements:
  - cryptography >= 3.3 on the host the module runs on
  - jmespath, only when O(query) is used
options: {}
"""

    VERIFY = r"""
requirements:
  - cryptography >= 42.0 on the host the module runs on (the controller by default)
options: {}
"""
