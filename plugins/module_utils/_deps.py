# -*- coding: utf-8 -*-
# This file is private to the certops.backend_tls collection; it is not a public API.
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that checks whether cryptography is importable and new enough."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib

# Keep these in step with plugins/doc_fragments/cryptography_dep.py and the pins in
# requirements-target-info-floor.txt / requirements-target-verify-floor.txt: those venvs, one per target
# Python (3.8, 3.9, 3.10, 3.12, 3.13), are what tests/integration/test_target_pythons.py runs the modules in.
# cryptography 3.3.x ships an abi3 wheel that installs and works on all of them, so one floor fits all.
MIN_CRYPTOGRAPHY_INFO = "3.3"
MIN_CRYPTOGRAPHY_VERIFY = "42.0"

try:
    import cryptography

    CRYPTOGRAPHY_VERSION = cryptography.__version__
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError:
    CRYPTOGRAPHY_VERSION = None
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()


def _as_tuple(version):
    parts = []
    for piece in version.split("."):
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        parts.append(int(digits or 0))
    return tuple(parts)


def cryptography_problem(*, minimum, hint=""):
    """Return None when cryptography >= minimum is importable, else (message, traceback)."""
    requirement = "cryptography >= %s" % minimum
    if CRYPTOGRAPHY_VERSION is None:
        return missing_required_lib(requirement), CRYPTOGRAPHY_IMPORT_ERROR
    if _as_tuple(CRYPTOGRAPHY_VERSION) < _as_tuple(minimum):
        msg = "this module needs %s on the host it runs on; found cryptography %s" % (
            requirement, CRYPTOGRAPHY_VERSION)
        if hint:
            msg += ". " + hint
        return msg, None
    return None
