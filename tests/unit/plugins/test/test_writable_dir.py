"""The writable_dir test plugin (the role's pre-check of its report directories), on real paths."""

from __future__ import annotations

import os

import pytest

from ansible_collections.certops.backend_tls.plugins.test import writable_dir as plugin

writable_dir = plugin.writable_dir


def test_it_is_registered():
    assert plugin.TestModule().tests()["writable_dir"] is writable_dir


def test_directories_and_everything_else(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("x")
    os.symlink(str(tmp_path / "d"), str(tmp_path / "link"))
    os.symlink(str(tmp_path / "gone"), str(tmp_path / "dangling"))
    assert writable_dir(str(tmp_path / "d"))
    assert writable_dir(str(tmp_path / "link"))  # followed, as fleet_report's writes follow it
    for name in ("f", "dangling", "missing"):
        assert not writable_dir(str(tmp_path / name)), name
    for value in (None, "", 3, "bad\x00path"):
        assert not writable_dir(value)


@pytest.mark.skipif(os.geteuid() != 0, reason="switches to another user, which needs root")
def test_a_directory_another_user_cannot_write_in(tmp_path):
    """Judged as the user running Ansible: root may write anywhere, nobody not in a 0755 root directory."""
    directory = tmp_path / "reports"
    directory.mkdir(mode=0o755)
    tmp_path.chmod(0o755)
    assert writable_dir(str(directory))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become nobody, answer, and leave without running pytest's teardown
        try:
            os.close(read)
            os.setgid(65534)
            os.setuid(65534)
            os.write(write, b"1" if writable_dir(str(directory)) else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"0"
