"""The arrangers: each turns a Sheet (the plan on the bar grid) and optionally an existing Score into a Score.

- patterns.PatternArranger: role-aware patterns, fast and deterministic; the baseline.
- transformer.TransformerArranger: the trained model, conditioned on the style and on the parts already written
  (imports torch, so it is loaded only when used).
- ensemble.EnsembleArranger: the default; the style's rhythm section from the patterns, the lines from the
  transformer listening to them.
- base: what they share (the Cell a role generator fills, copying kept parts, varying repeated material).
- finish: what every arrangement goes through after its arranger: each instrument to what it can play
  (symbolic/data/ranges.json), the lead's line, the melody on top and the bass under it, a counter-melody
  that answers, parts entering across the form, the energy as dynamics.
"""
from __future__ import annotations

from typing import Protocol

from ..score import Progress, Score, Sheet


class Arranger(Protocol):
    """Fill the sheet's parts; with `base`, only `bars` x `tracks` are written anew and everything else (and every
    `locked` track) is copied from base unchanged."""

    def arrange(self, sheet: Sheet, seed: int = 0, base: Score | None = None, bars: set[int] | None = None,
                tracks: set[str] | None = None, locked: set[str] | frozenset = frozenset(), brief: str = "",
                progress: Progress | None = None) -> Score: ...


__all__ = ["Arranger"]
