"""``liftstudio bench learned``: the harness measures phases, steps and memory."""

from __future__ import annotations

import numpy as np
import pytest

from liftstudio.cli import main
from liftstudio.evaluate.bench_learned import PeakResidentMemory


def test_peak_resident_memory_sees_a_large_allocation():
    with PeakResidentMemory(interval_s=0.005) as memory:
        block = np.ones(200_000_000 // 8)  # 200 MB, touched
        block.sum()
        del block
    if memory.before == 0:
        pytest.skip("no /proc/self/status on this system")
    assert memory.peak - memory.before > 150e6


def test_bench_learned_reports_phases_steps_and_memory(capsys):
    code = main(["bench", "learned", "--gaussians", "6000", "--views", "6",
                 "--width", "64", "--height", "48", "--json"])  # fmt: skip
    assert code == 0
    import json

    result = json.loads(capsys.readouterr().out)
    assert result["method"] == "codebook" and result["gaussians"] >= 6000
    assert {"operator rows", "training", "labels"} <= set(result["phases_s"])
    assert result["steps"] == 1500 and result["steps_per_s"] > 0
    assert sum(result["phases_s"].values()) == pytest.approx(result["total_s"], rel=0.05)
    assert result["peak_rss_gb"] > 0 and 0 <= result["pq_scene"] <= 1


def test_unknown_method_is_a_usage_error(capsys):
    assert main(["bench", "learned", "--method", "nope"]) != 0
    assert "unknown method" in capsys.readouterr().err
