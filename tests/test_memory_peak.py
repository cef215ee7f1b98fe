"""The allocator-trace replay of benchmarks/memory_peak.py, on a hand-made trace."""

from benchmarks.memory_peak import live_at_peak, site


def frames(*names):
    return [{"filename": f, "line": i, "name": "fn"} for i, f in enumerate(names)]


def test_the_peak_holds_what_was_alive_then_grouped_by_the_first_frame_that_is_not_plumbing():
    events = [
        {"action": "alloc", "addr": 1, "size": 100, "frames": frames("/x/torch/autograd/graph.py", "/r/grpo/optim.py")},
        {"action": "alloc", "addr": 2, "size": 50, "frames": frames("/r/grpo/policy.py")},
        {"action": "free_completed", "addr": 2, "size": 50},
        {"action": "alloc", "addr": 3, "size": 30, "frames": frames("/r/grpo/policy.py")},
        {"action": "alloc", "addr": 4, "size": 40, "frames": frames("/r/grpo/optim.py")},
        {"action": "free_completed", "addr": 1, "size": 100},
        {"action": "alloc", "addr": 5, "size": 60, "frames": frames("/r/grpo/learner.py")},
    ]
    peak, by_site = live_at_peak(events, start_bytes=1000)
    # totals: 1100, 1150, 1100, 1130, 1170 (peak), 1070, 1130
    assert peak == 1170
    assert by_site == {"(before the trace)": 1000, "grpo/optim.py:1 fn": 100, "grpo/optim.py:0 fn": 40,
                       "grpo/policy.py:0 fn": 30}


def test_a_trace_of_plumbing_only_is_unknown():
    assert site(frames("/x/torch/utils/checkpoint.py")) == "?"
