# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The writable_dir test (documentation in writable_dir.yml)."""

from __future__ import annotations

import os


def writable_dir(path):
    """True when path (symlinks followed) is a directory in which this process may create files."""
    if not isinstance(path, str) or not path or "\x00" in path:
        return False
    path = os.path.expanduser(path)
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


class TestModule:
    def tests(self):
        return {"writable_dir": writable_dir}
