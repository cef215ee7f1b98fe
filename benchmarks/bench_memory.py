"""Per-phase peak memory in the benchmarks' tables: which phase (generation, forward/backward or the
optimizer step) set a colocated row's peak, from the learner's memory/<phase>_peak_gib metrics."""

from __future__ import annotations

PHASES = ("memory/generate_peak_gib", "memory/train_peak_gib", "memory/optimizer_peak_gib")
HEADER = "peak GiB (generate / train / optimizer)"
# benchmarks/device_memory.py: what nvidia-smi saw while the row ran, per GPU (the same measure for
# every system; `peak_gib` above counts vLLM's sleeping memory as allocated)
DEVICE_HEADER = "device peak GiB"


STARTUP = "memory/startup_peak_gib"  # the learner's first step only: loading model, optimizer, engine


def phase_peaks(rows: list[dict]) -> dict[str, float]:
    """Each phase's highest peak over the measured steps, for the phases every row reports (a peer's
    row reports none; rollouts on their own GPUs leave the learner no generate phase); start-up
    where a measured step reports it (a run measured without warm-up steps)."""
    peaks = {k: max(m[k] for m in rows) for k in PHASES if rows and all(k in m for m in rows)}
    startup = [m[STARTUP] for m in rows if STARTUP in m]
    if startup:
        peaks[STARTUP] = max(startup)
    return peaks


def peak_text(result: dict, digits: int) -> str:
    """'72.0 (34.1 / 72.0 / 20.3)': the step's peak, then its phases' ('-' for one not reported);
    '44.6 (31.5 / 25.8 / 15.8; start-up 44.6)' where start-up was measured too."""
    phases = result.get("peak_split") or {}
    text = f"{result['peak_gib']:.{digits}f}"
    if phases:
        startup = f"; start-up {phases[STARTUP]:.{digits}f}" if STARTUP in phases else ""
        text += " (" + " / ".join(f"{phases[k]:.{digits}f}" if k in phases else "-" for k in PHASES) + startup + ")"
    return text


def device_text(result: dict) -> str:
    """'27.9' (one GPU) or '30.1 / 70.2' (per GPU); '' where nvidia-smi gave no reading. Our rows
    add the peak seen inside each phase: '47.2 (generate 44.0, train 30.1)'."""
    text = _per_gpu(result.get("device_peak_gib"))
    phases = result.get("device_phase_gib") or {}
    if text and phases:
        text += " (" + ", ".join(f"{phase} {_per_gpu(peaks)}" for phase, peaks in phases.items() if peaks) + ")"
    return text


def process_text(result: dict) -> str:
    """'device by process: 4242 ray::Learner 9.1, 4100 python3 0.5 GiB' (largest first), or '' where
    nvidia-smi listed no process (some containers hide other PID namespaces' processes)."""
    peaks = result.get("device_process_gib") or {}
    if not peaks:
        return ""
    ordered = sorted(peaks.items(), key=lambda item: -item[1])
    return "device by process: " + ", ".join(f"{name} {gib:.1f}" for name, gib in ordered) + " GiB"


def _per_gpu(peaks: list[float] | None) -> str:
    return " / ".join(f"{peak:.1f}" for peak in peaks or [])


def device_phase_peaks(device, windows: list[dict[str, list[float]]]) -> dict[str, list[float]]:
    """Each phase's highest device sample over the steps' windows (benchmarks/step_clock.py), per
    GPU; `device` is the row's DevicePeak. Phases without a sample inside are left out."""
    peaks: dict[str, list[float]] = {}
    for window in windows:
        for phase, (start, end) in window.items():
            inside = device.peaks_between(start, end)
            if inside:
                known = peaks.get(phase, [0.0] * len(inside))
                peaks[phase] = [max(a, b) for a, b in zip(known, inside)]
    return {phase: peaks[phase] for phase in ("generate", "train") if phase in peaks}
