"""cert_chain_verify on the chains the lab's real servers serve (tests/lab)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import lab as labctl
from testlib.ansible_run import recap, run_playbook

TARGET = Path(__file__).parent / "targets" / "cert_chain_verify"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    directory = tmp_path_factory.mktemp("lab")
    state = labctl.up(directory)
    yield state
    labctl.down(directory)


def test_lab_verdicts(lab):
    proc = run_playbook(TARGET / "lab.yml", inventory=Path(lab["dir"]) / "inventory.yml", extra_vars={
        "expected_codes": {"shop": ["EXPIRED"], "api": ["INCOMPLETE_CHAIN"], "edge": ["HOSTNAME_MISMATCH"],
                           "blog": ["EXPIRED"]}})
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    counts = recap(proc.stdout)
    assert sorted(counts) == ["backend-api", "backend-blog", "backend-edge", "backend-shop"]
    assert all(c["ok"] == 4 and c["failed"] == 0 and c["changed"] == 0 for c in counts.values()), counts
