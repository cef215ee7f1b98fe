"""nvidia-smi's memory samples -> each GPU's peak (benchmarks/device_memory.py), and the sampler
around a process, with a stand-in nvidia-smi on PATH."""

import os
import stat
import time
from datetime import datetime

from benchmarks.bench_memory import device_phase_peaks, device_text, process_text
from benchmarks.device_memory import DevicePeak, peaks_from_samples, process_peaks, timed_samples


def test_samples_interleave_gpus_in_index_order_and_warnings_are_skipped():
    text = "1024\n2048\nWARNING: infoROM is corrupted\n3072\n512\n1536\n\n"
    # GPU 0: 1024, 3072, 1536 MiB; GPU 1: 2048, 512
    assert peaks_from_samples(text, 2) == [3.0, 2.0]
    assert peaks_from_samples("", 2) == []


def test_the_sampler_keeps_the_highest_reading_while_the_block_runs(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    # one GPU: a single query prints one line; the looping query prints a rising then falling series
    fake.write_text("#!/bin/sh\ncase \"$*\" in *loop-ms*) for v in 100 5000 20480 300; do echo $v; sleep 0.05; done;"
                    " sleep 30;; *) echo 100;; esac\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with DevicePeak(interval_ms=50) as sampler:
        time.sleep(0.5)
    assert sampler.peaks_gib == [20.0]


def test_without_nvidia_smi_there_is_no_reading(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with DevicePeak() as sampler:
        pass
    assert sampler.peaks_gib == []


def test_timed_samples_group_one_interval_per_gpu_count_stamped_by_its_last_line():
    lines = [(10.0, "1024\n"), (10.01, "2048\n"), (10.02, "WARNING: x\n"), (10.05, "3072\n"), (10.06, "512\n"),
             (10.1, "4096\n")]  # the last interval was cut short: GPU 1's line never came
    assert timed_samples(lines, 2) == [(10.01, [1.0, 2.0]), (10.06, [3.0, 0.5])]
    assert timed_samples(lines, 1)[-1] == (10.1, [4.0])


def test_peaks_between_takes_only_the_samples_inside_the_window():
    device = DevicePeak()
    device.samples = [(1.0, [10.0, 1.0]), (2.0, [30.0, 2.0]), (3.0, [20.0, 5.0]), (4.0, [40.0, 0.0])]
    assert device.peaks_between(1.5, 3.0) == [30.0, 5.0]
    assert device.peaks_between(5.0, 6.0) == []


def test_each_phase_gets_its_highest_sample_over_all_steps_windows():
    device = DevicePeak()
    # step 1: generate 0-2 s, train 3-5 s; step 2: generate 6-8 s, train 9-11 s
    device.samples = [(t, [gib]) for t, gib in
                      [(0.5, 40.0), (1.5, 44.0), (2.5, 50.0), (3.5, 30.0), (4.5, 31.0), (6.5, 45.0), (9.5, 29.0), (12.0, 60.0)]]
    windows = [{"train": [3.0, 5.0], "generate": [0.0, 2.0]}, {"train": [9.0, 11.0], "generate": [6.0, 8.0]}]
    # 50.0 falls between the phases (rewards) and 60.0 after the last step (the final checkpoint)
    phases = device_phase_peaks(device, windows)
    assert phases == {"generate": [45.0], "train": [31.0]}
    assert list(phases) == ["generate", "train"]
    assert device_text({"device_peak_gib": [60.0], "device_phase_gib": phases}) == "60.0 (generate 45.0, train 31.0)"
    assert device_text({"device_peak_gib": [60.0]}) == "60.0"
    assert device_text({"device_peak_gib": [], "device_phase_gib": phases}) == ""


def test_nvidia_smis_own_timestamps_place_the_samples_not_the_time_they_were_read():
    # piped, nvidia-smi's lines may arrive in one block seconds later: all read at t=500 here
    lines = [(500.0, "2026/12/06 03:50:12.000, 1024\n"), (500.0, "2026/12/06 03:50:12.050, 2048\n"),
             (500.0, "2026/12/06 03:50:12.100, 3072\n")]
    start = datetime(2026, 12, 6, 3, 50, 12).timestamp()
    samples = timed_samples(lines, 1)
    assert [round(at - start, 3) for at, _ in samples] == [0.0, 0.05, 0.1]
    assert [gib for _, gib in samples] == [[1.0], [2.0], [3.0]]
    assert peaks_from_samples("".join(line for _, line in lines), 1) == [3.0]


def test_process_peaks_keep_each_processs_highest_reading_and_skip_hidden_ones():
    text = ("4242, ray::LearnerActor.step, 9216\n4100, python3, 512\n"
            "4242, ray::LearnerActor.step, 10240\n4300, /usr/bin/python3, [N/A]\nNo running processes found\n"
            "4100, python3, 500\n")
    assert process_peaks(text) == {"4242 ray::LearnerActor.step": 10.0, "4100 python3": 0.5}
    assert process_peaks("") == {}


def test_a_ray_worker_retitled_by_each_method_is_one_process():
    # as read on an H100 (2026-12-07): one learner pid under four titles and "[No data]"
    text = ("1020, ray::Learner.__init__, 3566\n1020, ray::Learner.generate, 11368\n506, python3, 618\n"
            "1020, [No data], 11368\n1020, ray::Learner, 9000\n1020, ray::Learner.train_step, 11000\n"
            "7, [No data], 100\n")
    assert process_peaks(text) == {"1020 ray::Learner": 11368 / 1024, "506 python3": 618 / 1024, "7 ?": 100 / 1024}
    assert process_text({"device_process_gib": {"4100 python3": 0.5, "4242 ray::LearnerActor.step": 10.0}}) == (
        "device by process: 4242 ray::LearnerActor.step 10.0, 4100 python3 0.5 GiB")
    assert process_text({}) == ""


def test_the_sampler_reads_each_processs_usage_from_its_own_query(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\ncase \"$*\" in\n"
                    " *compute-apps*) for v in 1024 3072 2048; do echo \"77, python3, $v\"; sleep 0.05; done; sleep 30;;\n"
                    " *loop-ms*) for v in 100 5000; do echo $v; sleep 0.05; done; sleep 30;;\n"
                    " *) echo 100;;\nesac\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with DevicePeak(interval_ms=50) as sampler:
        time.sleep(0.5)
    assert sampler.process_peaks_gib == {"77 python3": 3.0}
    assert sampler.peaks_gib == [5000 / 1024]
