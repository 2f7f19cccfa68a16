"""D6: a synthetic four-note melody, the offline stand-in for notebook 07's Windows XP shutdown sound.

The notebook convolves that recording with 0.4 s pure tones at the four pitches it hears in the
spectrogram: A♭6 1661 Hz, E♭6 1244 Hz, A♭5 830 Hz and B♭5 932 Hz. The wav file is not ours to ship,
so `melody` plays those four notes itself: each one `note_s` seconds long (0.4 s, 8,820 samples at
22.05 kHz), shaped by a short linear attack and an exponential decay (a struck, bell-like note),
separated by short random gaps after a random lead-in of silence, plus white noise. It returns the
signal and the true onset of every note, so a lesson can check where its kernels "light up".
"""

from __future__ import annotations

import math

import torch

SAMPLE_RATE = 22_050
NOTES = {"Ab6": 1661.0, "Eb6": 1244.0, "Ab5": 830.0, "Bb5": 932.0}  # the notebook's four pitches, in order


def tone(freq: float, duration_s: float = 0.4, sample_rate: int = SAMPLE_RATE,
         phase: float = 0.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A pure sinusoid sin(2π f t + phase) of `duration_s` seconds: the notebook's kernels."""
    t = torch.arange(round(duration_s * sample_rate), dtype=torch.float64) / sample_rate
    return torch.sin(2 * math.pi * freq * t + phase).to(dtype)


def melody(freqs: tuple[float, ...] = tuple(NOTES.values()), note_s: float = 0.4,
           sample_rate: int = SAMPLE_RATE, attack_s: float = 0.01, decay_s: float = 0.25,
           lead_in_s: tuple[float, float] = (0.1, 0.4), gap_s: tuple[float, float] = (0.0, 0.1),
           tail_s: float = 0.3, noise: float = 0.05, seed: int | torch.Generator = 0,
           dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (signal (N,), onsets (len(freqs),) in seconds).

    Note k starts at onsets[k] and lasts note_s seconds; the lead-in and each gap are drawn uniformly
    from their (low, high) ranges, each note's phase uniformly from [0, 2π); amplitude 1 at the peak
    of the envelope, Gaussian noise of standard deviation `noise` everywhere.
    """
    if not freqs or note_s <= 0 or sample_rate <= 0 or noise < 0:
        raise ValueError("need at least one note, positive note_s and sample_rate, non-negative noise")
    if any(f <= 0 or f >= sample_rate / 2 for f in freqs):
        raise ValueError(f"every frequency must be in (0, {sample_rate / 2}) Hz (Nyquist)")
    g = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)

    def uniform(lo_hi):
        lo, hi = lo_hi
        return lo + (hi - lo) * torch.rand((), generator=g, dtype=torch.float64).item()

    n_note = round(note_s * sample_rate)
    t = torch.arange(n_note, dtype=torch.float64) / sample_rate
    envelope = torch.clamp(t / attack_s, max=1.0) * torch.exp(-t / decay_s) if attack_s > 0 else torch.exp(-t / decay_s)
    starts, cursor = [], round(uniform(lead_in_s) * sample_rate)
    for k in range(len(freqs)):
        if k:
            cursor += n_note + round(uniform(gap_s) * sample_rate)
        starts.append(cursor)
    signal = torch.zeros(starts[-1] + n_note + round(tail_s * sample_rate), dtype=torch.float64)
    for start, f in zip(starts, freqs):
        phase = 2 * math.pi * torch.rand((), generator=g, dtype=torch.float64).item()
        signal[start:start + n_note] += envelope * torch.sin(2 * math.pi * f * t + phase)
    signal += noise * torch.randn(signal.shape, generator=g, dtype=torch.float64)
    onsets = torch.tensor(starts, dtype=torch.float64) / sample_rate
    return signal.to(dtype), onsets


__all__ = ["melody", "tone", "NOTES", "SAMPLE_RATE"]
