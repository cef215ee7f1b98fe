"""nvidia-smi's memory samples -> each GPU's peak (benchmarks/device_memory.py), and the sampler
around a process, with a stand-in nvidia-smi on PATH."""

import os
import stat
import time

from benchmarks.device_memory import DevicePeak, peaks_from_samples


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
