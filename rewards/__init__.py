"""Verifiers: the rule-based rewards GRPO learns from, and the plugin registry that finds them.

Public surface: `Sample`, `VerifierResult`, `verifier` (shape marker), `register`, `build`,
`resolve`, `available`. See README.md "Writing a verifier".
"""

from rewards.base import Sample, VerifierError, VerifierResult, verifier
from rewards.registry import available, build, register, resolve

__all__ = ["Sample", "VerifierError", "VerifierResult", "available", "build", "register", "resolve", "verifier"]
