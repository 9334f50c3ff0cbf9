"""fleet_report (plugins/action/fleet_report.py): the role's report files written by the controller's own process,
through real ansible-playbook runs.

What it writes is what the role wrote before with `copy` (to_nice_json, report_html, report_prometheus, byte for
byte); it replaces files atomically and leaves equal ones alone; check mode writes nothing; a bad argument or a
path it cannot write is a coded failure that leaves the old file as it was and no temporary file behind.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from bench.report_bench import fleet_report

from ansible_collections.certops.backend_tls.plugins.filter.report_formats import report_html, report_prometheus
from testlib.ansible_run import recap, run_playbook

PLAY = """---
- name: Write a fleet report
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write it
      certops.backend_tls.fleet_report:
        report: "{{{{ lookup('ansible.builtin.file', report_file) | from_json }}}}"
        files: "{{{{ files }}}}"
{mode}
      register: written
{extra}
    - name: Show the result
      ansible.builtin.copy:
        content: "{{{{ written | to_json }}}}"
        dest: "{{{{ result_file }}}}"
        mode: "0600"
      check_mode: false
"""
# The role's old task, for the byte-for-byte comparison of the JSON report.
NICE_JSON = """
    - name: The same report as the role wrote it before, with copy and to_nice_json
      ansible.builtin.copy:
        content: "{{ lookup('ansible.builtin.file', report_file) | from_json | to_nice_json }}{{ newline }}"
        dest: "{{ nice_file }}"
        mode: "0644"
      vars:
        newline: "\\n"
"""


def write(tmp_path, report, files, *, mode=None, check=False, extra=""):
    """Run the play; returns (the task's registered result, the CompletedProcess)."""
    report_file = tmp_path / "in.json"
    report_file.write_text(json.dumps(report))
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(mode="        mode: %s" % json.dumps(mode) if mode is not None else "", extra=extra))
    result_file = tmp_path / "result.json"
    if result_file.exists():
        result_file.unlink()
    proc = run_playbook(play, extra_vars={"report_file": str(report_file), "files": files,
                                          "result_file": str(result_file), "nice_file": str(tmp_path / "nice.json")},
                        args=["--check"] if check else [])
    if not result_file.exists():
        # the task failed: its result is in the output (failed tasks print their result as JSON)
        return None, proc
    return json.loads(result_file.read_text()), proc


def failure(proc):
    """The failed task's result from the default callback's `fatal: [localhost]: FAILED! => {...}` line."""
    for line in proc.stdout.splitlines():
        if line.startswith("fatal: [localhost]: FAILED! => "):
            return json.loads(line.split(" => ", 1)[1])
    raise AssertionError("no failed task:\n" + proc.stdout[-3000:] + proc.stderr[-2000:])


@pytest.fixture(scope="module")
def report():
    return fleet_report(40, seed=5)


def three(directory):
    return [{"format": "json", "path": str(directory / "report.json")},
            {"format": "html", "path": str(directory / "report.html")},
            {"format": "prometheus", "path": str(directory / "backend_tls.prom")}]


def test_writes_what_the_role_wrote_with_copy(tmp_path, report):
    out = tmp_path / "out"
    out.mkdir()
    result, proc = write(tmp_path, report, three(out), extra=NICE_JSON)
    assert result is not None, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert (out / "report.json").read_bytes() == (tmp_path / "nice.json").read_bytes()
    assert json.loads((out / "report.json").read_text()) == report
    assert (out / "report.html").read_text(encoding="utf-8") == report_html(report)
    assert (out / "backend_tls.prom").read_text(encoding="utf-8") == report_prometheus(report)
    assert result["changed"] is True
    assert [(f["format"], f["path"], f["changed"]) for f in result["files"]] == [
        ("json", str(out / "report.json"), True), ("html", str(out / "report.html"), True),
        ("prometheus", str(out / "backend_tls.prom"), True)]
    assert [f["size"] for f in result["files"]] == [os.path.getsize(f["path"]) for f in result["files"]]
    for name in ("report.json", "report.html", "backend_tls.prom"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644
    assert sorted(p.name for p in out.iterdir()) == ["backend_tls.prom", "report.html", "report.json"]


def test_an_equal_file_is_left_alone_and_a_changed_one_replaced(tmp_path, report):
    out = tmp_path / "out"
    out.mkdir()
    write(tmp_path, report, three(out))
    before = {p.name: p.stat().st_ino for p in out.iterdir()}
    result, proc = write(tmp_path, report, three(out))
    assert result["changed"] is False, proc.stdout[-3000:]
    assert [f["changed"] for f in result["files"]] == [False, False, False]
    assert {p.name: p.stat().st_ino for p in out.iterdir()} == before  # not even rewritten in place

    changed = dict(report, run="2026-12-03T08:00:00.000000Z")
    result, _proc = write(tmp_path, changed, three(out))
    assert [f["changed"] for f in result["files"]] == [True, True, True]
    assert json.loads((out / "report.json").read_text())["run"] == "2026-12-03T08:00:00.000000Z"
    # replaced by a rename (a new inode), so a reader never sees half a file
    assert all(p.stat().st_ino != before[p.name] for p in out.iterdir())


def test_prometheus_keeps_the_series_of_hosts_outside_the_report(tmp_path, report):
    out = tmp_path / "out"
    out.mkdir()
    whole = three(out)[2:]
    write(tmp_path, report, whole)
    hosts = sorted(h for h in report["hosts"] if h.startswith("web") and report["hosts"][h]["sites"])
    kept_host, rerun_host = hosts[0], hosts[1]
    limited = dict(report, hosts={rerun_host: report["hosts"][rerun_host]}, run="2026-12-03T09:00:00.000000Z")
    previous = (out / "backend_tls.prom").read_text()
    result, proc = write(tmp_path, limited, whole)
    assert result is not None, proc.stdout[-3000:]
    text = (out / "backend_tls.prom").read_text()
    assert text == report_prometheus(limited, previous)
    assert 'host="%s"' % kept_host in text


def test_check_mode_writes_nothing(tmp_path, report):
    out = tmp_path / "out"
    out.mkdir()
    result, proc = write(tmp_path, report, three(out), check=True)
    assert result is not None, proc.stdout[-3000:]
    assert list(out.iterdir()) == []
    assert [f["changed"] for f in result["files"]] == [True, True, True]

    write(tmp_path, report, three(out))
    saved = {p.name: p.read_bytes() for p in out.iterdir()}
    result, _proc = write(tmp_path, dict(report, run="2026-12-03T10:00:00.000000Z"), three(out), check=True)
    assert [f["changed"] for f in result["files"]] == [True, True, True]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == saved


def test_mode(tmp_path, report):
    out = tmp_path / "out"
    out.mkdir()
    result, proc = write(tmp_path, report, three(out)[:1], mode="0600")
    assert result is not None, proc.stdout[-3000:]
    assert stat.S_IMODE((out / "report.json").stat().st_mode) == 0o600


@pytest.mark.parametrize("entry, mode, text", [
    ({"format": "xml", "path": "OUT"}, None, "xml"),
    ({"format": "json"}, None, "path"),
    ({"format": "json", "path": "OUT", "owner": "root"}, None, "owner"),
    ({"format": "json", "path": "OUT"}, "u+rw", "octal"),
    ({"format": "json", "path": "OUT"}, "99999", "octal"),
])
def test_bad_arguments_are_coded_failures(tmp_path, report, entry, mode, text):
    out = tmp_path / "report.out"
    entry = {key: str(out) if value == "OUT" else value for key, value in entry.items()}
    result, proc = write(tmp_path, report, [entry], mode=mode)
    assert result is None
    failed = failure(proc)
    assert failed["error"]["code"] == "INVALID_ARGUMENT"
    assert text in failed["msg"]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not out.exists()


def test_a_path_it_cannot_write_fails_with_a_code_and_keeps_what_was_there(tmp_path, report):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("the old report\n")
    (out / "report.html").mkdir()  # a directory where the file should go: the rename fails
    files = three(out)[:2] + [{"format": "json", "path": str(tmp_path / "missing" / "report.json")}]

    result, proc = write(tmp_path, report, files[1:2])
    assert result is None
    failed = failure(proc)
    assert failed["error"]["code"] == "WRITE_FAILED", failed
    assert str(out / "report.html") in failed["msg"]
    assert (out / "report.html").is_dir() and list((out / "report.html").iterdir()) == []
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json"]  # no temporary file left
    assert (out / "report.json").read_text() == "the old report\n"

    result, proc = write(tmp_path, report, files[2:])
    failed = failure(proc)
    assert failed["error"]["code"] == "NOT_FOUND", failed
    assert not (tmp_path / "missing").exists()
    assert recap(proc.stdout)["localhost"]["failed"] == 1


def test_a_relative_path_is_the_playbook_s(tmp_path, report):
    """As a module on the controller would write it (a local connection runs it in the playbook's directory), not
    where ansible-playbook was started: the tests start it from their own working directory, not tmp_path."""
    (tmp_path / "out").mkdir()
    assert os.getcwd() != str(tmp_path)
    result, proc = write(tmp_path, report, [{"format": "json", "path": "out/report.json"}])
    assert result is not None, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert result["files"][0]["path"] == str(tmp_path / "out" / "report.json")
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == report
