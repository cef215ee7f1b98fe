"""Per-phase peak memory in the benchmarks' tables: which phase (generation or the update) set a
colocated row's peak, from the learner's memory/generate_peak_gib and memory/train_peak_gib."""

from __future__ import annotations

PHASES = ("memory/generate_peak_gib", "memory/train_peak_gib")


def phase_peaks(rows: list[dict]) -> dict[str, float]:
    """Each phase's highest peak over the measured steps; empty when a row lacks them (a peer's
    row, or rollouts on their own GPUs, where the learner has no generate phase)."""
    return {k: max(m[k] for m in rows) for k in PHASES if rows and all(k in m for m in rows)}


def peak_text(result: dict, digits: int) -> str:
    """'72.0 (34.1 / 72.0)': the step's peak, then generation's and the update's."""
    phases = result.get("peak_split") or {}
    text = f"{result['peak_gib']:.{digits}f}"
    if len(phases) == len(PHASES):
        text += " (" + " / ".join(f"{phases[k]:.{digits}f}" for k in PHASES) + ")"
    return text
