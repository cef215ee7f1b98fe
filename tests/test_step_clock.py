"""benchmarks/step_clock.py: when each step's metrics line appeared, and the phase windows that
follow from it and the step's own durations."""

import json
import threading
import time

from benchmarks.step_clock import StepClock, phase_windows


def test_each_steps_line_is_stamped_when_it_appears_even_if_written_in_two_pieces(tmp_path):
    path = tmp_path / "metrics.jsonl"
    stamps = {}

    def trainer():
        time.sleep(0.2)  # the file does not exist yet when the clock starts
        with path.open("a") as handle:
            handle.write(json.dumps({"step": 0, "eval/accuracy": 0.1}) + "\n")  # not a training step
            handle.write(json.dumps({"step": 1, "time/step": 1.0}) + "\n")
            handle.flush()
            stamps[1] = time.time()
            time.sleep(0.3)
            line = json.dumps({"step": 2, "time/step": 1.0}) + "\n"
            handle.write(line[:10])  # half a line: not a record yet
            handle.flush()
            time.sleep(0.3)
            handle.write(line[10:])
            handle.flush()
            stamps[2] = time.time()

    with StepClock(path, poll_s=0.01) as clock:
        writer = threading.Thread(target=trainer)
        writer.start()
        writer.join()
    assert sorted(clock.seen) == [1, 2]
    for step in (1, 2):
        assert 0 <= clock.seen[step] - stamps[step] < 0.2


def test_windows_follow_the_trainers_order_collect_train_sync():
    records = [
        # seen at t=100: started at 90; generate 90-96; trained 97-99.5, then a 0.5 s sync
        {"step": 1, "time/step": 10.0, "time/generate": 6.0, "time/train": 2.5, "time/sync": 0.5},
        # asynchronous: its generation overlapped the last step's training, so no generate window
        {"step": 2, "time/step": 4.0, "time/generate": 6.0, "time/train": 3.0, "time/sync": 0.0,
         "time/rollout_wait": 1.0},
        {"step": 3, "time/step": 4.0, "time/generate": 1.0, "time/train": 3.0},  # its line was never seen
    ]
    windows = phase_windows(records, {1: 100.0, 2: 104.0})
    assert windows == [{"train": [97.0, 99.5], "generate": [90.0, 96.0]}, {"train": [101.0, 104.0]}]
