"""benchmarks/async_overlay.py: window means and the inside-the-spread verdict, on hand-made curves."""

from __future__ import annotations

import json
import sys

import pytest

from benchmarks.async_overlay import compare, main, series, window_means


def test_series_keeps_the_steps_that_logged_the_key():
    rows = [{"step": 0, "eval/accuracy": 0.1}, {"step": 1, "reward/mean": 0.5}, {"step": 2, "reward/mean": None}]
    assert series(rows, "reward/mean") == {1: 0.5}
    assert series(rows, "eval/accuracy") == {0: 0.1}


def test_window_means_group_steps_from_one():
    points = {1: 1.0, 2: 3.0, 3: 5.0, 4: 7.0, 5: 10.0}
    assert window_means(points, 2) == {1: 2.0, 3: 6.0, 5: 10.0}


def test_compare_says_inside_only_within_the_synchronous_range():
    sync = [{1: 0.2, 11: 0.5}, {1: 0.4, 11: 0.7}]
    other = [{1: 0.3, 11: 0.9}, {1: 0.35, 11: 0.8}]
    table = compare(sync, other)
    assert [r["at"] for r in table] == [1, 11]
    assert table[0]["other_mean"] == pytest.approx(0.325) and table[0]["inside"]
    assert table[1]["sync_min"] == 0.5 and table[1]["sync_max"] == 0.7
    assert table[1]["other_mean"] == pytest.approx(0.85) and not table[1]["inside"]


def test_compare_uses_only_keys_every_run_has():
    assert [r["at"] for r in compare([{1: 0.0, 2: 1.0}], [{2: 1.0, 3: 0.0}])] == [2]


def _run(tmp_path, name, rewards, accuracy):
    folder = tmp_path / name
    folder.mkdir()
    rows = [{"step": 0, "eval/accuracy": accuracy[0]}]
    rows += [{"step": s, "reward/mean": r, "time/step": 2.0} for s, r in enumerate(rewards, start=1)]
    rows += [{"step": len(rewards), "eval/accuracy": accuracy[1]}]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(folder)


def test_main_writes_the_table_and_the_plot(tmp_path, monkeypatch):
    sync = [_run(tmp_path, "s0", [0.1, 0.3, 0.5, 0.7], [0.1, 0.8]), _run(tmp_path, "s1", [0.2, 0.4, 0.6, 0.8], [0.1, 0.9])]
    other = [_run(tmp_path, "a0", [0.1, 0.2, 0.9, 0.9], [0.1, 0.85])]
    monkeypatch.setattr(sys, "argv", ["async_overlay", "--sync", *sync, "--async", *other, "--window", "2",
                                      "--out", str(tmp_path / "out")])
    main()
    result = json.loads((tmp_path / "out" / "overlay.json").read_text())
    # windows: sync s0 (0.2, 0.6), s1 (0.3, 0.7); async (0.15, 0.9)
    assert [(r["at"], r["inside"]) for r in result["reward_windows"]] == [(1, False), (3, False)]
    assert result["reward_windows"][0]["other_mean"] == pytest.approx(0.15)
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
