"""Listening to kernels: a 1-D convolution with pure tones finds the notes of a melody (practicum 04-1, notebook 07).

Convolution is a running scalar product: sliding a kernel a along a signal x, the output at each
position says how much the piece of x under the kernel looks like a. The notebook hears four notes
in the Windows XP shutdown sound, reads their pitches off a spectrogram (A♭6 1661 Hz, E♭6 1244 Hz,
A♭5 830 Hz, B♭5 932 Hz), builds four 0.4 s sine waves at those pitches and convolves the recording
with each: each kernel "lights up" where its note is played.

The recording is not ours to ship, so the signal is D6 (`dlcourse.data.audio.melody`): the same four
notes at 22.05 kHz, 0.4 s each, with a 10 ms attack and an exponential decay, random phases, a
random lead-in and random gaps, in white noise (σ = 0.05 against a peak amplitude of 1). Because we
made it, we know every onset, and can check what the notebook only shows.

Each kernel is applied as `F.conv1d(..., padding="same")` would (one conv layer, 1 input channel,
4 output channels: the four kernels), computed through the FFT — PyTorch's CPU conv1d has no FFT
path, and on 55k samples × 8,820 taps × 4 kernels it took about 17 s of CPU time here, the FFT about
20 ms (benchmarks/sequences.py); the two agree to 1e-6 (float64) on a 500-sample slice, which the lesson asserts. The raw output
oscillates at the note's pitch; its envelope (the magnitude of the analytic signal, via a Hilbert
transform with `torch.fft`) is a smooth "how much of my note is here" curve. A 0.4 s kernel meets a
0.4 s note fully at exactly one shift, when the two are aligned: the envelope peaks when the window
*centred* on output position i starts at the note's onset, i.e. onset ≈ argmax − (kernel length −
1)/2. The lesson asserts that all four onsets are found within 50 ms (the catalogue's tolerance;
they come out within half a millisecond, so the full target is tightened to a maximum error of
10 ms), and that each kernel is selective: its peak response over its response when the window
lies on any of the other three notes is at least 20 dB (it is about 45–50 dB). A 0.4 s sinusoid has a bandwidth of
about 1/0.4 s = 2.5 Hz, so the notes, more than 100 Hz apart, are told apart by a wide margin.

Deviations: `F.conv1d` is a cross-correlation (no kernel flip, unlike `np.convolve`); for a sine
kernel the flip only shifts the phase, which the envelope ignores. The spectrogram uses `torch.stft`
with the notebook's librosa defaults (n_fft 2048, hop 512, Hann window), in dB, cut at 2 kHz.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlcourse import plots
from dlcourse.data.audio import NOTES, SAMPLE_RATE, melody, tone
from dlcourse.registry import UsageError, experiment
from dlcourse.runs import Run


@dataclass
class Config:
    sample_rate: int = SAMPLE_RATE
    kernel_s: float = 0.4  # the notebook's kernels: 0.4 s pure tones, 8,820 samples
    noise: float = 0.05
    tolerance_ms: float = 50.0  # a note counts as located if its onset is found within this
    n_fft: int = 2048
    hop: int = 512
    check_samples: int = 500  # output samples on which the FFT result is checked against F.conv1d


@experiment(
    name="listening_kernels",
    title="Listening to kernels: 1-D convolution on audio",
    track="B", parts=("04-1",), sources=("04-1", "nb07"), config=Config, quick=dict(sample_rate=11_025),
    targets={
        "full": {"notes_located": (">=", 4), "max_onset_error_ms": ("<=", 10.0),
                 "min_selectivity_db": (">=", 20.0), "fft_vs_conv1d_max_abs_err": ("<=", 1e-6)},
        "quick": {"notes_located": (">=", 4), "max_onset_error_ms": ("<=", 20.0),
                  "fft_vs_conv1d_max_abs_err": ("<=", 1e-6)},
    },
    controls={},
    budget_s=8,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    if cfg.sample_rate < 4000:
        raise UsageError("sample_rate must be at least 4000 Hz: the highest note, 1661 Hz, must lie below Nyquist")
    if not 0 < cfg.kernel_s <= 1 or cfg.noise < 0 or cfg.n_fft < 16 or cfg.hop < 1 or cfg.check_samples < 1:
        raise UsageError("kernel_s must be in (0, 1] s, noise non-negative, n_fft ≥ 16, hop and check_samples ≥ 1")
    names, freqs = list(NOTES), list(NOTES.values())
    x, onsets = melody(tuple(freqs), sample_rate=cfg.sample_rate, noise=cfg.noise, seed=run.seed,
                       dtype=torch.float64)
    x = x.to(run.device)
    kernels = torch.stack([tone(f, cfg.kernel_s, cfg.sample_rate, dtype=torch.float64) for f in freqs]).to(run.device)
    K = kernels.shape[-1]

    # One conv layer: 1 input channel, 4 output channels, computed through the FFT (same numbers
    # as F.conv1d(padding="same"), checked on a slice below). 'same' pads (K−1)//2 on the left, so
    # the window behind output i starts at sample i − (K−1)//2.
    y = conv1d_same_fft(x, kernels)  # (4, N)
    lo, n = len(x) // 2, cfg.check_samples  # direct outputs lo .. lo+n-1 read x[lo − (K−1)//2 ...]
    direct = F.conv1d(x[None, None, lo - (K - 1) // 2:lo - (K - 1) // 2 + K - 1 + n], kernels[:, None])[0]
    fft_err = (y[:, lo:lo + n] - direct).abs().max().item()
    env = envelope(y)
    peaks = env.argmax(-1)
    found = (peaks - (K - 1) // 2).double().cpu() / cfg.sample_rate
    errors_ms = (found - onsets).abs() * 1000

    # Selectivity: kernel k's peak over its response where the window sits on another note (the
    # output sample whose window starts at that note's onset).
    aligned = (onsets * cfg.sample_rate).round().long() + (K - 1) // 2
    at_notes = env[:, aligned.clamp(max=len(x) - 1).to(env.device)].cpu()  # (kernel, note)
    selectivity = []
    for k in range(len(freqs)):
        others = torch.cat([at_notes[k, :k], at_notes[k, k + 1:]])
        selectivity.append(20 * torch.log10(env[k].max().cpu() / others.max()).item() if len(others) else float("inf"))

    for k, name in enumerate(names):
        run.log(k, "eval", **{f"{name}/onset_error_ms": errors_ms[k].item(), f"{name}/selectivity_db": selectivity[k]})
    _figures(run, cfg, x.cpu(), y.cpu(), env.cpu(), onsets, found, names, freqs)
    return {
        "notes_located": float((errors_ms <= cfg.tolerance_ms).sum()),
        "max_onset_error_ms": errors_ms.max().item(),
        "min_selectivity_db": min(selectivity),
        "fft_vs_conv1d_max_abs_err": fft_err,
    }


def conv1d_same_fft(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """F.conv1d(x[None, None], kernels[:, None], padding="same")[0] by the convolution theorem.

    Direct convolution costs N·K multiply-adds per kernel (here 55k × 8.8k ≈ 0.5 G); PyTorch's CPU
    conv1d has no FFT path and took about 17 s of CPU time on it. In the frequency domain a correlation
    is a product with the conjugate spectrum: O((N + K) log(N + K)), milliseconds.
    """
    n, k = x.shape[-1], kernels.shape[-1]
    size = n + k - 1  # long enough that the circular correlation does not wrap onto itself
    spectrum = torch.fft.rfft(x, size) * torch.fft.rfft(kernels, size).conj()
    full = torch.fft.irfft(spectrum, size)  # full[m] = Σ_j x[m + j]·a[j], negative m at the end
    return torch.roll(full, (k - 1) // 2, dims=-1)[..., :n]


def envelope(y: torch.Tensor) -> torch.Tensor:
    """|analytic signal| along the last axis: keep the positive frequencies (doubled), drop the
    negative ones, transform back. For a slowly modulated sinusoid a(t)·cos(ωt + φ) it gives a(t)."""
    n = y.shape[-1]
    spectrum = torch.fft.fft(y, dim=-1)
    h = torch.zeros(n, device=y.device)
    h[0] = 1
    h[1:(n + 1) // 2] = 2
    if n % 2 == 0:
        h[n // 2] = 1
    return torch.fft.ifft(spectrum * h, dim=-1).abs()


def _figures(run, cfg, x, y, env, onsets, found, names, freqs):
    t = torch.arange(len(x)) / cfg.sample_rate
    window = torch.hann_window(cfg.n_fft)
    spec = torch.stft(x, cfg.n_fft, cfg.hop, window=window, center=True, return_complex=True).abs()
    db = 20 * torch.log10(spec / spec.max() + 1e-6)
    f = torch.fft.rfftfreq(cfg.n_fft, 1 / cfg.sample_rate)
    frames = torch.arange(spec.shape[1]) * cfg.hop / cfg.sample_rate
    keep = f <= 2000
    # matplotlib wants numpy arrays
    t, x, y, env, frames, f, db = (a.numpy() for a in (t, x, y, env, frames, f[keep], db[keep]))

    fig, axes = plots.figure(nrows=2, size=(9, 6), sharex=True)
    axes[0, 0].plot(t, x, lw=0.3)
    axes[0, 0].set(ylabel="x(t)", title="synthetic melody (D6) and its spectrogram")
    mesh = axes[1, 0].pcolormesh(frames, f, db, shading="auto", vmin=-80, vmax=0, cmap="magma")
    for ax in axes[:, 0]:
        for start in onsets.tolist():
            ax.axvline(start, color="w" if ax is axes[1, 0] else "k", ls=":", lw=0.8)
    for name, fr in zip(names, freqs):
        axes[1, 0].axhline(fr, color="c", lw=0.4, alpha=0.6)
        axes[1, 0].text(frames[-1], fr, f" {name}", va="center", fontsize=7)
    axes[1, 0].set(xlabel="time (s)", ylabel="frequency (Hz)")
    axes[1, 0].grid(False)
    fig.colorbar(mesh, ax=axes[:, 0].tolist(), label="dB", shrink=0.5)
    run.figure(fig, "spectrogram")

    fig, axes = plots.figure(nrows=len(names), size=(9, 1.6 * len(names) + 0.5), sharex=True)
    for k, (ax, name, fr) in enumerate(zip(axes[:, 0], names, freqs)):
        ax.plot(t, y[k], lw=0.2, color="0.6")
        ax.plot(t, env[k], lw=1.2, color=plots.CLASS_COLORS[k])
        centre = 0.5 * cfg.kernel_s
        ax.axvline(onsets[k].item() + centre, color="k", ls=":", lw=0.8, label="true onset + 0.2 s")
        ax.axvline(found[k].item() + centre, color="r", lw=0.8, alpha=0.7, label="envelope peak")
        ax.set_ylabel(f"x ⋆ {name}\n{fr:.0f} Hz", fontsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[0, 0].set_title("convolution with each 0.4 s tone (grey) and its envelope")
    axes[-1, 0].set_xlabel("time (s) — centre of the sliding window")
    fig.subplots_adjust(hspace=0.25)
    run.figure(fig, "convolutions")
