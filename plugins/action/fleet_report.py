# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleet_report: render the fleet report and replace each file atomically, in the controller's own process
(the documentation is in plugins/modules/fleet_report.py)."""

from __future__ import annotations

import errno
import os
import stat
import tempfile

from ansible.errors import AnsibleActionFail, AnsibleFilterError
from ansible.plugins.action import ActionBase
from ansible.plugins.filter.core import to_nice_json

from ansible_collections.certops.backend_tls.plugins.filter.report_formats import report_html, report_prometheus
from ansible_collections.certops.backend_tls.plugins.module_utils._base import CertError

_FORMATS = ("json", "html", "prometheus")
_SPEC = {
    "report": {"type": "dict", "required": True},
    "files": {"type": "list", "elements": "dict", "required": True, "options": {
        "format": {"type": "str", "choices": list(_FORMATS), "required": True},
        "path": {"type": "path", "required": True},
    }},
    "mode": {"type": "raw", "default": "0644"},
}
# The errno of a failed write -> the collection's codes (anything else is WRITE_FAILED).
_CODES = {errno.ENOENT: "NOT_FOUND", errno.ENOTDIR: "NOT_FOUND", errno.EACCES: "PERMISSION_DENIED",
          errno.EPERM: "PERMISSION_DENIED", errno.EROFS: "PERMISSION_DENIED"}


def _mode(value):
    """'0644', 0o644 or 420 -> 0o644; a symbolic mode is not taken (the report's files have one fixed mode)."""
    try:
        mode = int(value, 8) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        mode = -1
    if not 0 <= mode <= 0o7777 or isinstance(value, bool):
        raise CertError("INVALID_ARGUMENT", "mode must be an octal mode such as '0644', got %r" % (value,))
    return mode


def _render(report, fmt, path):
    if fmt == "json":
        return to_nice_json(report) + "\n"  # the filter the role used: the same bytes
    if fmt == "html":
        return report_html(report)
    try:  # the series this file holds for hosts outside the report are kept
        with open(path, encoding="utf-8", errors="replace") as handle:
            previous = handle.read()
    except OSError:
        previous = ""
    return report_prometheus(report, previous)


def _unchanged(path, data, mode):
    try:
        info = os.stat(path)
        if stat.S_IMODE(info.st_mode) != mode or info.st_size != len(data):
            return False
        with open(path, "rb") as handle:
            return handle.read() == data
    except OSError:
        return False


def _replace(path, data, mode):
    """Write data beside path, then rename it over path: a reader sees the old file or the new one, never half."""
    directory = os.path.dirname(path) or "."
    fd, temporary = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        try:
            try:
                args = self.validate_argument_spec(argument_spec=_SPEC)[1]
            except AnsibleActionFail as exc:  # Ansible's own message, with the collection's code
                raise CertError("INVALID_ARGUMENT", str(exc)) from None
            mode = _mode(args["mode"])
            written = []
            for entry in args["files"]:
                path = os.path.abspath(entry["path"])
                try:
                    data = _render(args["report"], entry["format"], path).encode("utf-8")
                except (AnsibleFilterError, TypeError, ValueError) as exc:  # not a report it can render
                    raise CertError("INVALID_ARGUMENT", "report as %s: %s" % (entry["format"], exc)) from None
                changed = not _unchanged(path, data, mode)
                if changed and not self._task.check_mode:
                    try:
                        _replace(path, data, mode)
                    except OSError as exc:
                        raise CertError(_CODES.get(exc.errno, "WRITE_FAILED"), "cannot write %s: %s" % (
                            path, exc.strerror or exc)) from None
                written.append({"format": entry["format"], "path": path, "changed": changed, "size": len(data)})
        except CertError as exc:
            result.update(failed=True, msg=exc.message, error=exc.as_dict())
            return result
        result.update(changed=any(entry["changed"] for entry in written), files=written)
        return result
