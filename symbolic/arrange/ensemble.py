"""The default arranger: the style's rhythm section from the patterns (the drums' groove, the bass idiom, the
comping, as `Idiom` names them, and the running melody of a fiddle tune), the lines (melody, counter-melody,
pad, arpeggio) from the transformer, which listens to the parts already written.

The transformer learned mostly pop, so it plays a pop groove whatever the style; the patterns play each style's
groove, bass and comping by definition. Its own strength is the lines over them.
"""
from __future__ import annotations

from ..score import Progress, Score, Sheet
from ..style import RUNNING_GENRES
from .patterns import PatternArranger

# The parts that carry a style's groove.
RHYTHM_ROLES = ("drums", "bass", "chords")


class EnsembleArranger:
    def __init__(self, lines, rhythm_roles: tuple[str, ...] = RHYTHM_ROLES):
        self.lines = lines  # the arranger of the other parts (a TransformerArranger)
        self.rhythm_roles = rhythm_roles

    def arrange(self, sheet: Sheet, seed: int = 0, base: Score | None = None, bars: set[int] | None = None,
                tracks: set[str] | None = None, locked: set[str] | frozenset = frozenset(), brief: str = "",
                progress: Progress | None = None, **opts) -> Score:
        """As Arranger.arrange; `opts` (temperature, top_p, n_candidates) go to the lines' arranger."""
        wanted = ({p.name for p in sheet.parts} if tracks is None else set(tracks)) - set(locked)
        roles = self.rhythm_roles + (("melody",) if sheet.idiom.genre in RUNNING_GENRES else ())
        rhythm = {p.name for p in sheet.parts if p.role in roles} & wanted
        lines = wanted - rhythm

        def step(lo: float, hi: float):
            if progress is None:
                return None
            return lambda f, msg: progress(lo + (hi - lo) * f, msg)

        share = 0.1 if lines else 1.0
        score = PatternArranger().arrange(sheet, seed=seed, base=base, bars=bars, tracks=rhythm,
                                          progress=step(0.0, share))
        if not lines:
            return score
        return self.lines.arrange(sheet, seed=seed, base=score, bars=bars, tracks=lines, brief=brief,
                                  progress=step(share, 1.0), **opts)
