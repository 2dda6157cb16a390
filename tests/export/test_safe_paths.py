"""Safe names and destinations: nothing escapes the folder, inputs are never written."""

from __future__ import annotations

import os
import shutil

import pytest

from liftstudio.errors import OutputFileError
from liftstudio.export.safe_paths import (
    FREE_SPACE_RESERVE,
    check_free_space,
    check_output_file,
    check_writable_folder,
    contained,
    refuse_input_folder,
    refuse_inputs,
    safe_stem,
    same_file,
    unique_stems,
)

HOSTILE = [
    "../../etc/passwd",
    "..",
    ".",
    "...",
    "/absolute/path",
    "C:\\Windows\\system32",
    "a/b\\c",
    "name\x00with\x07control\nchars",
    ".hidden",
    "CON",
    "com1.txt",
    "Lpt9",
    "trailing dots...",
    "  spaces  ",
    "$(rm -rf ~); `x` | > < * ? \" '",
    "",
    "___",
    "☕" * 200,
    "a" * 500,
    "Ärger über Öl",
    "e\u0301",  # e + combining accent
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_become_files_inside_the_folder(tmp_path, name):
    stem = safe_stem(name)
    assert stem and stem not in (".", "..")
    assert "/" not in stem and "\\" not in stem and "\x00" not in stem
    assert not stem.startswith(".") and not stem.endswith((".", " "))
    assert len(stem.encode("utf-8")) <= 80
    assert stem.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT9"}
    assert all(c.isprintable() for c in stem)
    # The real check: the file is created, and it is a direct child of the folder.
    path = contained(tmp_path, f"{stem}.ply")
    path.write_bytes(b"x")
    assert [p.name for p in tmp_path.iterdir()] == [f"{stem}.ply"]
    assert path.resolve().parent == tmp_path.resolve()


def test_plain_names_stay_readable():
    assert safe_stem("coffee mug #2") == "coffee_mug_2"
    assert safe_stem("chair-01.v2") == "chair-01.v2"
    assert safe_stem("Ärger über Öl") == "Ärger_über_Öl"
    assert safe_stem("../../etc/passwd") == "etc_passwd"
    assert safe_stem("CON") == "_CON" and safe_stem("com1.txt") == "_com1.txt"
    assert safe_stem("", fallback="object") == "object" and safe_stem("..") == "instance"
    assert safe_stem("e\u0301") == "\u00e9"  # normalised to one character


def test_unique_stems_ignore_case_and_keep_the_first():
    assert unique_stems(["mug", "Mug", "mug", "cup", "MUG-2"]) == [
        "mug", "Mug-2", "mug-3", "cup", "MUG-2-2",
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "/etc/passwd", "../x"])
def test_contained_refuses_names_that_leave_the_folder(tmp_path, name):
    with pytest.raises(OutputFileError, match="would leave the folder"):
        contained(tmp_path, name)


def test_inputs_are_recognised_through_links(tmp_path):
    original = tmp_path / "scene.ply"
    original.write_bytes(b"precious")
    hard = tmp_path / "hard.ply"
    os.link(original, hard)
    soft = tmp_path / "soft.ply"
    soft.symlink_to(original)
    dotted = tmp_path / "sub" / ".." / "scene.ply"
    (tmp_path / "sub").mkdir()
    for alias in (original, hard, soft, dotted):
        assert same_file(alias, original)
        with pytest.raises(OutputFileError, match=r"is an input of this export \(.*scene\.ply\)"):
            refuse_inputs([tmp_path / "other.ply", alias], [original])
        with pytest.raises(OutputFileError, match="is an input"):
            check_output_file(alias, overwrite=True, inputs=[original])
    assert not same_file(tmp_path / "new.ply", original)
    refuse_inputs([tmp_path / "new.ply"], [original])
    assert original.read_bytes() == b"precious"


def test_a_folder_holding_inputs_is_refused_for_per_view_files(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "view_0.png").write_bytes(b"png")
    with pytest.raises(OutputFileError, match=r"holds an input of this export \(view_0\.png\)"):
        refuse_input_folder(images, [images / "view_0.png"])
    refuse_input_folder(tmp_path / "masks", [images / "view_0.png"])


def test_free_space_is_checked_against_the_real_disk(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    check_free_space(tmp_path / "not" / "yet", 1000, "a small file")
    with pytest.raises(OutputFileError, match="not enough free space for the big export") as err:
        check_free_space(tmp_path / "out", free, "the big export")
    assert str(err.value).startswith(str(tmp_path / "out"))
    assert "free some space or choose another disk" in str(err.value)
    check_free_space(tmp_path, max(free - 2 * FREE_SPACE_RESERVE, 0), "almost everything")


def test_a_path_under_a_regular_file_is_not_writable(tmp_path):
    blocker = tmp_path / "report.txt"
    blocker.write_text("x")
    with pytest.raises(OutputFileError, match=r"report\.txt is a file, not a folder"):
        check_writable_folder(blocker / "exports" / "deeper")
    with pytest.raises(OutputFileError, match=r"report\.txt is a file, not a folder"):
        check_output_file(blocker / "labeled.ply")
    check_writable_folder(tmp_path / "new" / "folder")  # missing is fine: it can be created
    assert not (tmp_path / "new").exists()


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="running as root: a read-only folder does not stop root from writing",
)
def test_a_read_only_folder_is_a_clear_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(OutputFileError, match="cannot write here"):
            check_writable_folder(locked)
        with pytest.raises(OutputFileError, match=r"its parent .*locked does not accept files"):
            check_writable_folder(locked / "sub")
    finally:
        locked.chmod(0o755)
