"""The pulse grid of a bar: where its beats fall and how strong each is (simple and compound meters)."""
from __future__ import annotations

from dataclasses import dataclass

from .score import PPQ, SheetBar

SIXTEENTH = PPQ // 4


@dataclass(frozen=True, slots=True)
class Pulse:
    start: int
    length: int
    strength: float  # 1 downbeat, 0.6 secondary, 0.3 other


def pulses(bar: SheetBar) -> list[Pulse]:
    num, den, start = bar.bar.numerator, bar.bar.denominator, bar.bar.start
    beat = PPQ * 4 // den
    if den == 8 and num in (6, 9, 12):
        groups = [3] * (num // 3)
    elif den == 8 and num in (5, 7, 11):
        groups = {5: [3, 2], 7: [2, 2, 3], 11: [3, 3, 3, 2]}[num]
    elif num == 5:
        groups = [1] * 5
    elif den == 16:
        groups = [4] * (num // 4) + ([num % 4] if num % 4 else [])
    else:
        groups = [1] * num
    out, t = [], start
    for i, g in enumerate(groups):
        strength = 1.0 if i == 0 else (0.6 if (len(groups) == 4 and i == 2) or (num == 5 and i == 3) else 0.3)
        out.append(Pulse(t, g * beat, strength))
        t += g * beat
    return out


def compound_meter(num: int, den: int) -> bool:
    """Whether a meter counts dotted quarters (6/8, 9/8, 12/8, ...): a tempo there means the dotted quarter."""
    return den == 8 and num % 3 == 0 and num > 3


def is_compound(bar: SheetBar) -> bool:
    return bar.bar.denominator == 8 and bar.bar.numerator in (6, 9, 12)
