"""Speculative decoding: cheap drafts of the next tokens, verified by the model in one pass.

config.py holds the policy, proposer.py the drafting interface, ngram.py prompt lookup,
policy.py the adaptive decisions (who drafts, how many), verifier.py the acceptance rule,
speculator.py ties them into the engine's step.
"""
from engine.speculation.config import SPECULATION_METHODS, SpeculationConfig

__all__ = ["SPECULATION_METHODS", "SpeculationConfig"]
