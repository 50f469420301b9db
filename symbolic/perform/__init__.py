"""Expressive performance: a small denoising-diffusion model that turns a quantized Score into a played one.

For every note the model reads the context of the quantized score (instrument class, role, pitch or kit
piece, metrical position, beat strength, duration, the score velocity, local density, intervals and gaps
to the neighbouring notes, chord size, tempo) and samples by denoising Gaussian noise:

* the timing deviation in milliseconds from the grid,
* the velocity change from the score velocity,
* the log ratio of the played to the written duration (articulation; pitched notes only),
* for piano: whether the sustain pedal is pressed at this onset, how many ms after the written onset,
  and how many beats it is held (learned from POP909's CC64 on its piano track).

`perform(score, seed, amount)` returns a new Score with the same notes in the same order, shifted,
re-voiced and re-articulated, and sustain pedal spans on its piano parts; `amount` scales the sampled
deviations (0 gives back the quantized score).

- features: the per-note inputs; model: the denoiser, its schedule, saving and loading; sampling: perform().
- Building the training data, training and evaluation are offline, in training/perform
  (`python -m training.perform build | train | eval`).
"""
from .model import PerformanceError, load
from .sampling import perform

__all__ = ["perform", "load", "PerformanceError"]
