"""atomic_output: nothing half-written, nothing overwritten by surprise."""

from __future__ import annotations

import pytest

from liftstudio.errors import OutputFileError
from liftstudio.fileio import atomic_output


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "labels.ply"
    target.write_bytes(b"precious")
    with pytest.raises(RuntimeError), atomic_output(target, overwrite=True) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("cancelled mid-write")
    assert target.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["labels.ply"]


def test_success_replaces_and_respects_umask(tmp_path):
    target = tmp_path / "out.json"
    with atomic_output(target) as tmp:
        tmp.write_text("{}")
    assert target.read_text() == "{}"
    assert target.stat().st_mode & 0o044, "written file should be readable by others"
    with pytest.raises(OutputFileError, match="already exists"):
        atomic_output(target).__enter__()
    with pytest.raises(OutputFileError, match="does not exist"):
        atomic_output(tmp_path / "no" / "such" / "x.ply").__enter__()
