"""benchmarks/bench_memory.py: the per-phase peaks of a row and how the tables print them."""

from __future__ import annotations

from benchmarks.bench_memory import phase_peaks, peak_text


def test_phase_peaks_take_each_phases_highest_and_start_up_where_a_step_reports_it():
    rows = [{"memory/generate_peak_gib": 31.0, "memory/train_peak_gib": 25.0, "memory/optimizer_peak_gib": 15.5,
             "memory/startup_peak_gib": 44.5},
            {"memory/generate_peak_gib": 31.5, "memory/train_peak_gib": 24.0, "memory/optimizer_peak_gib": 15.8}]
    assert phase_peaks(rows) == {"memory/generate_peak_gib": 31.5, "memory/train_peak_gib": 25.0,
                                 "memory/optimizer_peak_gib": 15.8, "memory/startup_peak_gib": 44.5}
    # a phase one measured step lacks is left out; no start-up reported, none shown
    assert phase_peaks([{"memory/train_peak_gib": 3.0}, {}]) == {}


def test_peak_text_prints_the_phases_then_start_up():
    split = {"memory/generate_peak_gib": 31.5, "memory/train_peak_gib": 25.8, "memory/optimizer_peak_gib": 15.8}
    assert peak_text({"peak_gib": 31.5, "peak_split": split}, 1) == "31.5 (31.5 / 25.8 / 15.8)"
    split["memory/startup_peak_gib"] = 44.6
    assert peak_text({"peak_gib": 44.6, "peak_split": split}, 1) == "44.6 (31.5 / 25.8 / 15.8; start-up 44.6)"
    assert peak_text({"peak_gib": 2.0, "peak_split": {"memory/train_peak_gib": 2.0}}, 1) == "2.0 (- / 2.0 / -)"
    assert peak_text({"peak_gib": 9.25}, 2) == "9.25"
