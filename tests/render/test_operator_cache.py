"""The on-disk operator-row cache: exact round trips, keys, LRU bounds, corrupt files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from liftstudio.render.operator_cache import (
    OperatorCache,
    cached_operator_rows,
    default_cache_dir,
    operator_cache_key,
)
from liftstudio.render.results import OperatorRows
from liftstudio.render.rules import GSPLAT_RULES, INRIA_RULES
from liftstudio.scene.camera import Camera, intrinsics, look_at
from liftstudio.scene.gaussians import GaussianScene


def _rows(seed: int = 0, shape=(12, 10, 4), dtype=np.float16) -> OperatorRows:
    rng = np.random.default_rng(seed)
    ids = rng.integers(-1, 500, size=shape, dtype=np.int32)
    weights = np.where(ids >= 0, rng.uniform(0, 1, size=shape), 0).astype(dtype)
    residual = rng.uniform(0, 0.1, size=shape[:2]).astype(np.float32)
    return OperatorRows(ids=ids, weights=weights, residual=residual)


def _camera(eye=(3.0, 0.0, 1.0), width=40, height=30) -> Camera:
    return Camera("a.png", look_at(np.array(eye), np.zeros(3)), intrinsics(30, 30, 20, 15),
                  width, height)  # fmt: skip


def _key(**changes) -> str:
    args = dict(
        scene_hash="abc",
        camera=_camera(),
        resolution=None,
        top_k=16,
        weight_dtype=np.float16,
        rules_key=INRIA_RULES.cache_key(),
        backend_name="cpu",
    )
    args.update(changes)
    return operator_cache_key(**args)


def _set_age(path: Path, seconds_ago: float) -> None:
    stamp = int((1_700_000_000 - seconds_ago) * 1e9)
    os.utime(path, ns=(stamp, stamp))


# ---------------------------------------------------------------------------- location and keys
def test_default_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LIFTSTUDIO_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "mine" / "operators"
    monkeypatch.delenv("LIFTSTUDIO_CACHE_DIR")
    assert default_cache_dir() == tmp_path / "xdg" / "liftstudio" / "operators"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "liftstudio" / "operators"


def test_the_key_changes_with_every_input():
    base = _key()
    assert len(base) == 64 and int(base, 16) >= 0
    assert _key() == base
    assert _key(resolution=(40, 30)) == base  # the camera's own size, spelled out
    variants = [
        _key(scene_hash="abd"),
        _key(camera=_camera(eye=(3.0, 0.001, 1.0))),
        _key(camera=_camera(width=41)),
        _key(camera=Camera("a.png", _camera().viewmat, intrinsics(31, 30, 20, 15), 40, 30)),
        _key(resolution=(20, 15)),
        _key(top_k=8),
        _key(top_k=None),
        _key(weight_dtype=np.float32),
        _key(rules_key=GSPLAT_RULES.cache_key()),
        _key(backend_name="gsplat"),
    ]
    assert len({base, *variants}) == len(variants) + 1
    renamed = Camera("b.png", _camera().viewmat, _camera().K, 40, 30)
    assert _key(camera=renamed) == base  # the name is not geometry


# ---------------------------------------------------------------------------- entries
def test_rows_round_trip_exactly(tmp_path):
    cache = OperatorCache(tmp_path / "cache")
    for dtype in (np.float16, np.float32):
        rows = _rows(dtype=dtype)
        key = _key(weight_dtype=dtype)
        assert cache.get(key) is None
        cache.put(key, rows, scene_hash="abc")
        back = cache.get(key)
        assert back.ids.dtype == np.int32 and back.weights.dtype == dtype
        assert back.residual.dtype == np.float32
        np.testing.assert_array_equal(back.ids, rows.ids)
        np.testing.assert_array_equal(back.weights, rows.weights)
        np.testing.assert_array_equal(back.residual, rows.residual)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        f"{_key(weight_dtype=d)}.npz" for d in (np.float16, np.float32)
    )
    assert cache.size_bytes() == sum(p.stat().st_size for p in (tmp_path / "cache").iterdir())
    assert len(cache) == 2


def test_bad_keys_and_bad_rows_are_refused(tmp_path):
    cache = OperatorCache(tmp_path)
    with pytest.raises(ValueError, match="hex"):
        cache.get("../escape")
    rows = _rows()
    broken = OperatorRows(ids=rows.ids.astype(np.int64), weights=rows.weights,
                          residual=rows.residual)  # fmt: skip
    with pytest.raises(ValueError, match="ids"):
        cache.put(_key(), broken)
    assert list(tmp_path.iterdir()) == []


def test_lru_eviction_keeps_the_cache_under_its_limit(tmp_path):
    one = _rows(0)
    probe = OperatorCache(tmp_path / "probe")
    probe.put(_key(), one)
    entry_size = probe.size_bytes()
    cache = OperatorCache(tmp_path / "cache", max_bytes=int(2.5 * entry_size))
    keys = [_key(scene_hash=str(i)) for i in range(4)]
    cache.put(keys[0], one)
    cache.put(keys[1], one)
    _set_age(cache.path_for(keys[0]), 30)
    _set_age(cache.path_for(keys[1]), 20)
    assert cache.get(keys[0]) is not None  # now the most recently used
    cache.put(keys[2], one)
    assert cache.size_bytes() <= cache.max_bytes
    assert cache.get(keys[1]) is None  # the oldest went
    assert cache.get(keys[0]) is not None and cache.get(keys[2]) is not None
    cache.put(keys[3], one)
    assert cache.size_bytes() <= cache.max_bytes and len(cache) == 2
    assert cache.get(keys[3]) is not None
    tiny = OperatorCache(tmp_path / "tiny", max_bytes=10)
    tiny.put(keys[0], one)  # bigger than the whole budget: not kept
    assert tiny.get(keys[0]) is None and tiny.size_bytes() == 0


def test_a_corrupt_or_truncated_entry_is_a_miss_and_is_deleted(tmp_path):
    cache = OperatorCache(tmp_path)
    good, bad = _key(scene_hash="good"), _key(scene_hash="bad")
    cache.put(good, _rows())
    data = cache.path_for(good).read_bytes()
    cache.path_for(bad).write_bytes(data[: len(data) // 2])
    assert cache.get(bad) is None
    assert not cache.path_for(bad).exists()
    cache.path_for(bad).write_bytes(b"not a zip file at all")
    assert cache.get(bad) is None and not cache.path_for(bad).exists()
    np.savez(cache.path_for(bad), ids=np.zeros(3))  # readable, but not an entry
    assert cache.get(bad) is None and not cache.path_for(bad).exists()
    assert cache.get(good) is not None


def test_files_that_are_not_entries_are_never_touched(tmp_path):
    foreign = {
        "notes.txt": b"mine",
        "ABC.npz": b"upper-case name",
        f"{'0' * 64}.npy": b"other suffix",
        f"{'1' * 63}.npz": b"short name",
    }
    for name, content in foreign.items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / f"{'2' * 64}.npz").mkdir()  # a folder with an entry's name
    cache = OperatorCache(tmp_path, max_bytes=0)
    cache.put(_key(), _rows())
    assert cache.size_bytes() == 0
    cache.put(_key(top_k=2), _rows(), scene_hash="abc")
    cache.invalidate_scene("abc")
    cache.clear()
    for name, content in foreign.items():
        assert (tmp_path / name).read_bytes() == content
    assert (tmp_path / f"{'2' * 64}.npz").is_dir()


def test_invalidate_scene_removes_only_that_scene(tmp_path):
    cache = OperatorCache(tmp_path)
    cache.put(_key(scene_hash="s1"), _rows(1), scene_hash="s1")
    cache.put(_key(scene_hash="s1", top_k=4), _rows(2), scene_hash="s1")
    cache.put(_key(scene_hash="s2"), _rows(3), scene_hash="s2")
    assert cache.invalidate_scene("s1") == 2
    assert cache.get(_key(scene_hash="s1")) is None
    assert cache.get(_key(scene_hash="s2")) is not None
    assert cache.clear() == 1 and len(cache) == 0


def test_get_or_compute_computes_once(tmp_path):
    cache = OperatorCache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return _rows(5)

    first = cache.get_or_compute(_key(), compute)
    second = cache.get_or_compute(_key(), compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(first.ids, second.ids)


def test_get_or_compute_returns_rows_when_the_folder_cannot_be_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    cache = OperatorCache(blocker / "cache")
    rows = cache.get_or_compute(_key(), lambda: _rows(6))
    assert rows.ids.shape == (12, 10, 4)


class _CountingBackend:
    name = "counting"
    rules = INRIA_RULES

    def __init__(self) -> None:
        self.calls = []

    def operator_rows(self, scene, camera, *, resolution=None, top_k=16, weight_dtype=np.float16):
        self.calls.append((resolution, top_k, np.dtype(weight_dtype)))
        width, height = resolution or (camera.width, camera.height)
        return _rows(len(self.calls), shape=(height, width, top_k), dtype=weight_dtype)


def test_cached_operator_rows_keys_on_scene_camera_and_settings(tmp_path):
    rng = np.random.default_rng(0)
    scene = GaussianScene(
        means=rng.normal(size=(5, 3)), raw_quats=np.tile([1.0, 0, 0, 0], (5, 1)),
        log_scales=np.full((5, 3), -2.0), logit_opacities=np.zeros(5),
        sh=np.zeros((5, 1, 3)),
    )  # fmt: skip
    cache = OperatorCache(tmp_path)
    backend = _CountingBackend()
    first = cached_operator_rows(backend, scene, _camera(), top_k=3, cache=cache)
    again = cached_operator_rows(backend, scene, _camera(), top_k=3, cache=cache)
    assert len(backend.calls) == 1
    np.testing.assert_array_equal(first.weights, again.weights)
    cached_operator_rows(backend, scene, _camera(), top_k=3, resolution=(20, 15), cache=cache)
    cached_operator_rows(backend, scene, _camera(), top_k=3, weight_dtype=np.float32, cache=cache)
    assert backend.calls[1:] == [((20, 15), 3, np.float16), (None, 3, np.float32)]
    assert cache.invalidate_scene(scene.content_hash()) == 3
    cached_operator_rows(backend, scene, _camera(), top_k=3, cache=cache)
    assert len(backend.calls) == 4
