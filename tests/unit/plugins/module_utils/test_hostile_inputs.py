"""Hostile file-system inputs for backend_cert_info: FIFOs, sockets, devices, directory symlink loops,
directories that cannot be listed, and arbitrary argument/byte input.

Everything that could hang runs in a forked child with a hard deadline (`bounded`): a regression
fails the test after DEADLINE seconds instead of hanging the suite.
"""

from __future__ import annotations

import glob
import json
import os
import select
import signal
import socket
import subprocess
import tempfile
import time
import traceback

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.certops.backend_tls.plugins.module_utils import _certs, _collect, _gather
from ansible_collections.certops.backend_tls.plugins.modules import backend_cert_info
from testlib import pki
from testlib.module_runner import run_main

DEADLINE = 10  # seconds; the work below takes well under one

CA = pki.CA("Hostile")
LEAF = CA.leaf("hostile.test")


def bounded(fn, *, as_nobody=False, deadline=DEADLINE):
    """fn()'s (JSON-able) result, computed in a forked child -- as 'nobody' when asked and we are root,
    since root can read anything. Fails the test, and kills the child by its pid, past the deadline."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        status = 1
        try:
            os.close(read_end)
            if as_nobody and os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            payload = {"result": fn()}
            status = 0
        except BaseException:  # reported to the parent
            payload = {"exception": traceback.format_exc()}
        finally:
            try:
                with os.fdopen(write_end, "w") as pipe:
                    pipe.write(json.dumps(payload))
            finally:
                os._exit(status)
    os.close(write_end)
    chunks, end = [], time.monotonic() + deadline
    try:
        while True:
            ready = select.select([read_end], [], [], max(0.0, end - time.monotonic()))[0]
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("still running after %ds: it hangs" % deadline)
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
    os.waitpid(pid, 0)
    payload = json.loads(b"".join(chunks).decode())
    assert "exception" not in payload, payload["exception"]
    return payload["result"]


def _by_path(result):
    return {f["path"]: (f["error"] or {}) for f in result["files"]}


# -- FIFOs, sockets, devices: named, never read, never blocking

@pytest.mark.parametrize("how", ["given", "walked", "globbed", "recursive_glob", "site_cert_file"])
def test_fifo_is_named_not_read(tmp_path, how):
    top = tmp_path / "certs"
    top.mkdir()
    good = pki.write(top / "good.pem", LEAF.pem)
    fifo = str(top / "pipe.pem")
    os.mkfifo(fifo)
    args = {
        "given": dict(paths=[good, fifo]),
        "walked": dict(paths=[str(top)]),
        "globbed": dict(paths=[str(top / "*.pem")]),
        "recursive_glob": dict(paths=[str(tmp_path / "**" / "*.pem")]),
        "site_cert_file": dict(paths=[good], sites=[{"name": "s", "cert_path": fifo}]),
    }[how]
    result = bounded(lambda: _collect.collect(**args))
    errors = _by_path(result)
    assert errors[good] == {}
    assert errors[fifo] == {"code": "NOT_REGULAR_FILE", "message": "a FIFO, not read"}
    assert result["summary"]["errors"] == 1


def test_fifo_through_the_module(tmp_path):
    fifo = str(tmp_path / "pipe.pem")
    os.mkfifo(fifo)
    result = bounded(lambda: run_main(backend_cert_info.main, {"paths": [str(tmp_path)]}))
    assert [(f["path"], f["error"]["code"], f["format"]) for f in result["files"]] == [
        (fifo, "NOT_REGULAR_FILE", None)]
    assert result["summary"]["errors"] == 1


def test_socket_and_devices_are_named(tmp_path):
    sock_path = str(tmp_path / "s.pem")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(sock_path)
        server.listen(1)
        paths = [sock_path, "/dev/null", "/dev/zero"]
        result = bounded(lambda: _collect.collect(paths=paths))
    finally:
        server.close()
    assert _by_path(result) == {
        sock_path: {"code": "NOT_REGULAR_FILE", "message": "a socket, not read"},
        "/dev/null": {"code": "NOT_REGULAR_FILE", "message": "a character device, not read"},
        "/dev/zero": {"code": "NOT_REGULAR_FILE", "message": "a character device, not read"},
    }


# -- directory symlinks: followed, but no directory entered twice

def _tree(root, links):
    """d/a.pem, d/.hidden.pem, d/sub/b.pem, other/c.pem, plus the given symlinks {path: target}."""
    for rel in ("d/a.pem", "d/.hidden.pem", "d/sub/b.pem", "other/c.pem"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    for rel, target in links.items():
        os.symlink(target, str(root / rel))


REAL = ["d/a.pem", "d/sub/b.pem"]
LOOPS = {
    # name: (symlinks, files found beyond the real tree)
    "one_loop": ({"d/sub/loop": ".."}, []),
    "two_loops": ({"d/sub/loop": "..", "d/sub/loop2": "../sub"}, []),
    "self_loop": ({"d/self": "."}, []),
    "loop_to_top_by_name": ({"d/sub/up": "../../d"}, []),
    # Not loops: a second way to a directory already seen (named by its real path), and a way out.
    "diamond": ({"d/alias": "sub"}, []),
    "outside": ({"d/ext": "../other"}, ["d/ext/c.pem"]),
}


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_directory_symlinks(tmp_path, name):
    links, beyond = LOOPS[name]
    _tree(tmp_path, links)
    d = str(tmp_path / "d")

    def expand(entry):
        items = _collect.expand_paths([entry])
        assert all(error is None for _path, error in items), items
        return [os.path.relpath(path, str(tmp_path)) for path, _error in items]

    walked, globbed, everything = bounded(lambda: [expand(d), expand(os.path.join(d, "**", "*.pem")),
                                                   expand(os.path.join(d, "**"))])
    # os.walk order: a directory's files (sorted), then its subdirectories; real ones before symlinked ones.
    assert walked == ["d/.hidden.pem", "d/a.pem", "d/sub/b.pem"] + beyond
    assert globbed == sorted(REAL + beyond)  # `**` skips hidden names, as glob does
    assert everything == sorted(walked)  # a matched directory is walked whole, hidden files too


def test_loops_through_collect_are_read_once(tmp_path):
    """The reported defect: one loop gave 41 entries for one file, two loops never returned."""
    _tree(tmp_path, {"d/sub/loop": "..", "d/sub/loop2": "../sub"})
    pki.write(tmp_path / "d" / "a.pem", LEAF.pem)
    result = bounded(lambda: _collect.collect(paths=[str(tmp_path / "d" / "**" / "*.pem")], include_pem=False))
    assert [os.path.relpath(f["path"], str(tmp_path)) for f in result["files"]] == REAL
    assert result["summary"]["certificates"] == 1


# -- globs keep glob.glob's semantics where there is no loop

def _reference_expand(entry):
    """What expand_paths did before (glob.glob + os.walk without following directory symlinks)."""
    out = []
    for match in sorted(glob.glob(entry, recursive=True)):
        if not os.path.lexists(match):
            continue  # glob.glob("missing/**") returns "missing/"; we return nothing for a glob matching nothing
        if os.path.isdir(match):
            for root, dirs, files in os.walk(match):
                dirs.sort()
                out.extend(os.path.join(root, f) for f in sorted(files))
        else:
            out.append(match)
    return out


@pytest.fixture(scope="module")
def plain_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("globs")
    for rel in ("a.pem", "b.crt", "c.pem", ".hidden.pem", "x[1].pem", "sub/d.pem", "sub/.e.pem", "sub/deeper/f.pem",
                "sub/deeper/g.key", ".hid/h.pem", ".hid/sub/i.pem", "other/sub/j.pem", "other/k.pem"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    os.symlink("a.pem", str(root / "link.pem"))
    os.symlink("gone.pem", str(root / "dangling.pem"))
    return root


@pytest.mark.parametrize("pattern", [
    "*.pem", "**/*.pem", "**", "**/", "*", "*/", "sub/*", "sub/**", "**/sub/*.pem", "**/deeper/*", "?.pem",
    "[ab].*", "[!a]*.pem", "x[[]1].pem", ".*", "**/.*", ".hid/**/*.pem", "*/**/*.pem", "**/**/*.pem",
    "nomatch/*", "nomatch/**", "*.none", "sub/*/f.pem", "s?b/deeper",
])
def test_glob_semantics_match_glob_glob(plain_tree, pattern):
    entry = os.path.join(str(plain_tree), pattern)
    got = [path for path, error in _collect.expand_paths([entry]) if error is None]
    assert got == sorted(set(_reference_expand(entry)))


def test_relative_glob(plain_tree, monkeypatch):
    monkeypatch.chdir(str(plain_tree))
    assert [p for p, _e in _collect.expand_paths(["**/*.key", "sub/*.pem"])] == [
        "sub/deeper/g.key", "sub/d.pem"]


# -- directories that cannot be listed are items, counted as errors

def test_unlistable_directories():
    top = tempfile.mkdtemp(prefix="certops-hostile-")  # not under root's 0700 pytest tmp: nobody must enter
    try:
        os.chmod(top, 0o755)
        for rel, mode in (("ok.pem", None), ("locked/x.pem", 0o000), ("nolist/z.pem", 0o311), ("open/y.pem", None)):
            path = os.path.join(top, rel)
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            pki.write(path, LEAF.pem)
            if mode is not None:
                os.chmod(os.path.dirname(path), mode)  # 0o311: may enter, may not list

        def run():
            return [_collect.collect(paths=[top], include_pem=False),
                    _collect.collect(paths=[os.path.join(top, "*", "*.pem")], include_pem=False),
                    _collect.collect(paths=[os.path.join(top, "locked")], include_pem=False)]

        walked, globbed, direct = bounded(run, as_nobody=True)
    finally:
        subprocess.run(["rm", "-rf", top], check=True)
    denied = {"code": "PERMISSION_DENIED", "message": "cannot list the directory: permission denied"}

    def rel(result):
        return {os.path.relpath(path, top): error for path, error in _by_path(result).items()}

    assert rel(walked) == {"ok.pem": {}, "locked": denied, "nolist": denied, "open/y.pem": {}}
    assert walked["summary"]["errors"] == 2 and walked["summary"]["files"] == 4
    assert rel(globbed) == {"locked": denied, "nolist": denied, "open/y.pem": {}}
    assert globbed["summary"]["errors"] == 2
    assert rel(direct) == {"locked": denied} and direct["summary"]["errors"] == 1


# -- arbitrary input: an argument error or an item error, never a traceback

@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.lists(st.sampled_from(list("ab1.-_:[]/%@ ü") + [":443", "[::1]", "https://", "::"]), max_size=12).map("".join),
    st.text(max_size=20),
    st.dictionaries(st.sampled_from(["host", "port", "server_name", "servername"]),
                    st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.text(max_size=12)), max_size=4),
    st.none(), st.integers(), st.lists(st.text(max_size=3), max_size=2),
))
def test_parse_endpoint_never_raises_anything_else(spec):
    try:
        target = _collect.parse_endpoint(spec)
    except _certs.CertError as exc:
        assert exc.code == "INVALID_ARGUMENT" and exc.message
        return
    assert isinstance(target["host"], str) and 0 < target["port"] < 65536
    assert _gather._name_problem(target["host"]) is None


_SEEDS = [b"\x30\x82\x01\x00\x02\x01\x03\x30\x82\x00\x10\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01",
          b"\x30\x82\x01\x00\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02\xa0",
          b"-----BEGIN PKCS7-----\n", b"-----BEGIN CERTIFICATE-----\n", b"\x30\x81"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_SEEDS), st.binary(max_size=200))
def test_parse_material_never_raises_anything_else(seed, tail):
    try:
        _certs.parse_material(seed + tail)
    except _certs.CertError as exc:
        assert exc.code in ("NOT_A_CERTIFICATE", "ENCRYPTED") and exc.message


@pytest.mark.parametrize("content,problem", [
    (b"-----BEGIN CERTIFICATE-----\n" * 37000, "no END line"),  # ~1 MB, the default max_file_size
    (b"-----BEGIN CERTIFICATE-----\n" + b"A" * (1024 * 1024 - 60), "no END line"),
    (b"-----END CERTIFICATE-----\n" * 37000, "no certificate or private key found"),
], ids=["begin_storm", "one_long_unterminated_block", "end_storm"])
def test_pem_storms_are_linear(content, problem):
    """A file of BEGIN lines used to cost minutes (a lazy BEGIN...END regex rescanned from every BEGIN)."""
    def parse():
        try:
            _certs.parse_material(content)
        except _certs.CertError as exc:
            return [exc.code, exc.message]
        return None

    code, message = bounded(parse)
    assert code == "NOT_A_CERTIFICATE" and problem in message


@pytest.mark.parametrize("content,blocks,unterminated", [
    (LEAF.pem + LEAF.pem, 2, 0),
    (LEAF.pem[:100] + LEAF.pem, 1, 1),  # a truncated block, then a whole one: the whole one is read
    (LEAF.pem.replace("\n", "\r\n"), 1, 0),
    ("-----BEGIN CERTIFICATE-----AAAA-----END CERTIFICATE-----\n", 0, 1),  # no line break after BEGIN
    ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END X509 CRL-----\n", 0, 1),
    ("-----END CERTIFICATE-----\n" + LEAF.pem, 1, 0),
], ids=["two", "truncated_then_whole", "crlf", "no_newline", "mismatched_end", "stray_end"])
def test_pem_blocks(content, blocks, unterminated):
    found, missing = _certs.pem_blocks(content.encode())
    assert (len(found), missing) == (blocks, unterminated)
    assert all(label == b"CERTIFICATE" for label, _body in found)
