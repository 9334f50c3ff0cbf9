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
from ansible_collections.certops.backend_tls.plugins.module_utils._base import CertError, not_regular, read_file

_FORMATS = ("json", "html", "prometheus")
_SPEC = {
    "report": {"type": "dict", "required": True},
    "files": {"type": "list", "elements": "dict", "required": True, "options": {
        "format": {"type": "str", "choices": list(_FORMATS), "required": True},
        "path": {"type": "path", "required": True},
    }},
    "mode": {"type": "raw", "default": "0644"},
}
# The previous Prometheus file is read whole to keep other hosts' series: one larger is refused (TOO_LARGE).
MAX_PREVIOUS_BYTES = 64 * 1024 * 1024
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


def _check_target(path):
    """CertError NOT_REGULAR_FILE when path exists and is a FIFO, socket or device (or a link to one): a FIFO would
    hang the read of the previous series, and replacing a device or socket with a report is never meant. A directory
    is left to the rename, which fails (WRITE_FAILED) as it always did."""
    try:
        problem = not_regular(os.stat(path).st_mode)
    except (OSError, ValueError):  # absent (or unusable: the write says why)
        return
    if problem is not None and problem.code == "NOT_REGULAR_FILE":
        raise _about(path, problem)


def _about(path, problem):
    """read_file's refusal of the report file at path, naming it and what to do."""
    return CertError(problem.code, "%s: %s; give the path of a report file, or remove what is there"
                     % (path, problem.message))


def _previous(path):
    """The text of the Prometheus file being replaced ('' when there is none), read without blocking and bounded."""
    try:
        data = read_file(path, max_bytes=MAX_PREVIOUS_BYTES)
    except CertError as exc:
        if exc.code in ("NOT_REGULAR_FILE", "TOO_LARGE"):  # swapped for something else since _check_target, or huge
            raise _about(path, exc) from None
        return ""  # absent or unreadable: there are no series to keep
    # what open(path, "r") read before: universal newlines
    return data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")


def _render(report, fmt, path):
    if fmt == "json":
        return to_nice_json(report) + "\n"  # the filter the role used: the same bytes
    if fmt == "html":
        return report_html(report)
    # the series this file holds for hosts outside the report are kept
    return report_prometheus(report, _previous(path))


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
                # relative: the playbook's directory, where a module on the controller would write it (a local
                # connection runs it there), not wherever ansible-playbook was started
                path = os.path.abspath(os.path.join(self._loader.get_basedir(), entry["path"]))
                _check_target(path)
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
