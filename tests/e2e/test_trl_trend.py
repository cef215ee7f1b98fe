"""This project and TRL's GRPOTrainer on the same tiny CPU problem: both reward curves rise."""

import pytest


@pytest.mark.slow
def test_reward_trends_agree_with_trl(ray_cluster):  # joins the suite's cluster: ~5 s less than its own
    import importlib.util

    from tests.conftest import ROOT

    spec = importlib.util.spec_from_file_location("trl_trend_cpu", ROOT / "benchmarks" / "trl_trend_cpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import tempfile
    from pathlib import Path

    workdir = Path(tempfile.mkdtemp())
    trl, ours = module.run_trl(12, workdir), module.run_ours(12, workdir)
    slope_trl, slope_ours = module.trend(trl["reward"]), module.trend(ours["reward"])
    assert len(trl["reward"]) == len(ours["reward"]) == 12
    assert slope_trl > 0 and slope_ours > 0, (trl["reward"], ours["reward"])
    # same problem, same settings: the mean rewards stay close
    assert abs(sum(trl["reward"]) / 12 - sum(ours["reward"]) / 12) < 0.1
