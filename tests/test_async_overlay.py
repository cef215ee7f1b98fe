"""benchmarks/async_overlay.py: window means and the inside-the-spread verdict, on hand-made curves."""

from __future__ import annotations

import json
import sys

import pytest

from benchmarks.async_overlay import (by_sampling_version, compare, main, mixed_starts, permutation_p, running_means, series,
                                      window_means)


def test_series_keeps_the_steps_that_logged_the_key():
    rows = [{"step": 0, "eval/accuracy": 0.1}, {"step": 1, "reward/mean": 0.5}, {"step": 2, "reward/mean": None}]
    assert series(rows, "reward/mean") == {1: 0.5}
    assert series(rows, "eval/accuracy") == {0: 0.1}


def test_window_means_group_steps_from_one():
    points = {1: 1.0, 2: 3.0, 3: 5.0, 4: 7.0, 5: 10.0}
    assert window_means(points, 2) == {1: 2.0, 3: 6.0, 5: 10.0}


def test_running_means_are_centred_and_shorter_at_the_ends():
    assert running_means({1: 0.0, 2: 3.0, 3: 6.0, 4: 9.0}, 3) == {1: 1.5, 2: 3.0, 3: 6.0, 4: 7.5}


def test_window_means_from_zero_for_versions():
    assert window_means({0: 1.0, 1: 3.0, 2: 5.0}, 2, first=0) == {0: 2.0, 2: 5.0}


def test_by_sampling_version_shifts_by_staleness_and_averages_a_shared_version():
    # max_staleness=1: steps 1 and 2 both sampled the initial weights, step 3 the weights after update 1
    rows = [{"step": 0, "eval/accuracy": 0.1}, {"step": 1, "reward/mean": 0.2, "rollout/staleness": 0.0},
            {"step": 2, "reward/mean": 0.4, "rollout/staleness": 1.0}, {"step": 3, "reward/mean": 0.9, "rollout/staleness": 1.0}]
    assert by_sampling_version(rows, "reward/mean") == {0: pytest.approx(0.3), 1: 0.9}
    # a synchronous run logs no staleness: step t sampled version t - 1
    assert by_sampling_version([{"step": 1, "reward/mean": 0.5}, {"step": 2, "reward/mean": 0.7}], "reward/mean") == {0: 0.5, 1: 0.7}


def test_compare_says_inside_only_within_the_synchronous_range():
    sync = [{1: 0.2, 11: 0.5}, {1: 0.4, 11: 0.7}]
    other = [{1: 0.3, 11: 0.9}, {1: 0.35, 11: 0.8}]
    table = compare(sync, other)
    assert [r["at"] for r in table] == [1, 11]
    assert table[0]["other_mean"] == pytest.approx(0.325) and table[0]["inside"]
    assert table[1]["sync_min"] == 0.5 and table[1]["sync_max"] == 0.7
    assert table[1]["other_mean"] == pytest.approx(0.85) and not table[1]["inside"]


def test_permutation_p_counts_the_splits_as_far_apart_as_the_real_one():
    # 20 ways to split {1..6} into threes; only {1,2,3}|{4,5,6} and its mirror differ by 3.
    assert permutation_p([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(2 / 20)
    # {1,2}|{3,4}: |1.5 - 3.5| = 2; of the 6 splits, {1,2}, {3,4} (gap 2) reach it, {1,3}, {2,4} (1)
    # and {1,4}, {2,3} (0) do not.
    assert permutation_p([1.0, 2.0], [3.0, 4.0]) == pytest.approx(2 / 6)
    # Equal means: every split is at least as far apart.
    assert permutation_p([1.0, 3.0], [2.0, 2.0]) == 1.0
    # Unequal sizes: 4 ways to pick the single value; only 10 reaches |10 - 2| = 8.
    assert permutation_p([10.0], [1.0, 2.0, 3.0]) == pytest.approx(1 / 4)


def test_compare_gives_each_key_the_permutation_p():
    table = compare([{1: 1.0}, {1: 2.0}, {1: 3.0}], [{1: 4.0}, {1: 5.0}, {1: 6.0}])
    assert table[0]["p_same_mean"] == pytest.approx(0.1) and table[0]["sync_mean"] == pytest.approx(2.0)


def test_compare_uses_only_keys_every_run_has():
    assert [r["at"] for r in compare([{1: 0.0, 2: 1.0}], [{2: 1.0, 3: 0.0}])] == [2]


def _run(tmp_path, name, rewards, accuracy, staleness=None):
    folder = tmp_path / name
    folder.mkdir()
    rows = [{"step": 0, "eval/accuracy": accuracy[0]}]
    rows += [{"step": s, "reward/mean": r, "time/step": 2.0} for s, r in enumerate(rewards, start=1)]
    if staleness is not None:
        for row in rows[1:]:
            row["rollout/staleness"] = 0.0 if row["step"] == 1 else float(staleness)
    rows += [{"step": len(rewards), "eval/accuracy": accuracy[1]}]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(folder)


def test_main_writes_the_table_and_the_plot(tmp_path, monkeypatch):
    sync = [_run(tmp_path, "s0", [0.1, 0.3, 0.5, 0.7], [0.1, 0.8]), _run(tmp_path, "s1", [0.2, 0.4, 0.6, 0.8], [0.1, 0.9])]
    other = [_run(tmp_path, "a0", [0.1, 0.2, 0.9, 0.9], [0.1, 0.85], staleness=1)]
    monkeypatch.setattr(sys, "argv", ["async_overlay", "--sync", *sync, "--async", *other, "--window", "2",
                                      "--out", str(tmp_path / "out")])
    main()
    result = json.loads((tmp_path / "out" / "overlay.json").read_text())
    # by step: sync s0 (0.2, 0.6), s1 (0.3, 0.7); async (0.15, 0.9)
    assert [(r["at"], r["inside"]) for r in result["reward_windows_by_step"]] == [(1, False), (3, False)]
    assert result["reward_windows_by_step"][0]["other_mean"] == pytest.approx(0.15)
    # by version: sync s0 {0: .1, 1: .3, 2: .5, 3: .7}, async {0: (.1 + .2) / 2, 1: .9, 2: .9}; versions
    # all share: 0-2, so windows 0-1 (sync .2/.3, async .525) and 2 (sync .5/.6, async .9)
    by_version = result["reward_windows_by_version"]
    assert [r["at"] for r in by_version] == [0, 2]
    assert (by_version[0]["sync_min"], by_version[0]["sync_max"]) == (pytest.approx(0.2), pytest.approx(0.3))
    assert by_version[0]["other_mean"] == pytest.approx(0.525) and not by_version[0]["inside"]
    assert by_version[1]["sync_max"] == pytest.approx(0.6) and by_version[1]["other_mean"] == pytest.approx(0.9)
    assert [(r["at"], r["inside"]) for r in result["eval_accuracy"]] == [(0, True), (4, True)]
    assert result["wall_seconds"] == {"sync": [8.0, 8.0], "async": [8.0]}
    assert (tmp_path / "out" / "overlay.png").stat().st_size > 0


def test_main_names_a_folder_without_metrics(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    good = _run(tmp_path, "s0", [0.1], [0.1, 0.2])
    monkeypatch.setattr(sys, "argv", ["async_overlay", "--sync", good, "--async", str(tmp_path / "empty"),
                                      "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit, match="--async: no metrics.jsonl in .*empty"):
        main()


def test_runs_from_different_bases_are_refused_with_both_groups_named(tmp_path, monkeypatch):
    sync = [_run(tmp_path, "s0", [0.1, 0.3], [0.066, 0.8]), _run(tmp_path, "s1", [0.2, 0.4], [0.066, 0.9])]
    other = [_run(tmp_path, "a2", [0.1, 0.2], [0.071, 0.85], staleness=1)]  # a rebuilt base reads 0.071
    monkeypatch.setattr(sys, "argv", ["async_overlay", "--sync", *sync, "--async", *other, "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit, match=r"s0, .*s1: accuracy 0.066.*a2: accuracy 0.071"):
        main()
    assert not (tmp_path / "out").exists()


def test_same_start_or_no_step_0_evaluation_passes():
    same = [{"step": 0, "eval/accuracy": 0.066, "eval/length_mean": 51.742}, {"step": 1, "reward/mean": 0.5}]
    other_length = [{"step": 0, "eval/accuracy": 0.066, "eval/length_mean": 50.1}]
    assert mixed_starts({"a": same, "b": list(same), "c": [{"step": 1, "reward/mean": 0.4}]}) is None
    assert "length_mean 50.1" in mixed_starts({"a": same, "b": other_length})
