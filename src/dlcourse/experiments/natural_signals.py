"""Natural signals and convolution: a convolution is a Toeplitz matrix (03-3, 04-1).

Practicum 04-1 writes a 1-D convolution as a matrix: each output is the kernel dotted with a window of
the input, so the matrix is zero away from a band (*locality*: outputs depend only on nearby inputs)
and repeats the same few numbers along each diagonal (*stationarity*: the same kernel everywhere).
With channels it is a block matrix of such bands; in 2-D it is block-Toeplitz with Toeplitz blocks.
`dlcourse.scratch.toeplitz` builds these matrices from shifted identities and this lesson checks, in
float64, that multiplying by them is F.conv1d / F.conv2d — with stride, padding, dilation, several
channels and a bias — and that backpropagating through a convolution multiplies by the transpose.

Practicum 03-3 says *why* convolution fits natural signals, and the lesson measures it:
* locality — on the 1,797 digits, pixels close to each other are strongly correlated, far ones are
  not; after a fixed permutation of the pixels the same correlations are spread over all distances
  (flat curve). In the melody (D6) neighbouring samples are almost copies of each other; shuffled, not.
* stationarity — in photographs (D4: 16×16 crops of scikit-learn's two sample photos) the correlation
  of a pixel with its right-hand neighbour is the same at every position of the crop (0.97 ± 0.003):
  the statistics do not depend on where one looks, so a detector useful in one place is useful
  everywhere, and one shared kernel suffices. Centred digits are the counter-example: their
  statistics depend on the position (0 to 0.6), which is why a digit CNN still ends in
  position-specific fully connected layers.
* compositionality — stacking layers grows the region an output sees: measured as the support of the
  gradient of one output unit with respect to the input, it equals the receptive-field formula for
  3×3 convolutions with and without 2×2 pooling; and 03-2.h's 1-D stack (conv 3, pool 2, conv 3,
  pool 2) has ⌊(n − 10)/4⌋ + 1 outputs: 4 more inputs, exactly one more output.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlcourse import plots
from dlcourse.data.audio import melody
from dlcourse.data.digits import digits
from dlcourse.data.patches import extract, grey_images
from dlcourse.registry import UsageError, experiment
from dlcourse.runs import Run
from dlcourse.scratch import toeplitz


@dataclass
class Config:
    trials: int = 20          # random conv configurations checked against PyTorch
    max_depth: int = 5        # receptive fields of 1 … max_depth stacked layers
    max_lag: int = 40         # audio autocorrelation up to this lag (samples)
    far: float = 5.0          # pixel distance from which pairs count as "far"
    photos: bool = True       # the stationarity measurement on photographs (decoding them takes ~2 s)
    photo_crops: int = 3000
    crop: int = 16


def _random_case(g: torch.Generator, dims: int):
    """One random convolution (input, weight, bias, stride, padding, dilation) in float64."""
    def r(lo, hi):
        return int(torch.randint(lo, hi + 1, (), generator=g))
    n, c_in, c_out = r(1, 3), r(1, 4), r(1, 4)
    kernel = [r(1, 5) for _ in range(dims)]
    dilation = [r(1, 2) for _ in range(dims)]
    padding = [r(0, 3) for _ in range(dims)]
    stride = [r(1, 3) for _ in range(dims)]
    size = [dilation[i] * (kernel[i] - 1) + 1 + r(0, 12) for i in range(dims)]
    x = torch.randn(n, c_in, *size, generator=g, dtype=torch.float64)
    w = torch.randn(c_out, c_in, *kernel, generator=g, dtype=torch.float64)
    b = torch.randn(c_out, generator=g, dtype=torch.float64)
    one = (lambda v: v[0]) if dims == 1 else tuple
    return x, w, b, one(stride), one(padding), one(dilation)


def toeplitz_errors(trials: int, g: torch.Generator) -> dict[str, float]:
    err = {"conv1d": 0.0, "conv2d": 0.0, "transpose": 0.0}
    for _ in range(trials):
        x, w, b, s, p, d = _random_case(g, 1)
        y = F.conv1d(x, w, b, s, p, d)
        err["conv1d"] = max(err["conv1d"], (toeplitz.conv1d(x, w, b, s, p, d) - y).abs().max().item())
        x, w, b, s, p, d = _random_case(g, 2)
        y = F.conv2d(x, w, b, s, p, d)
        err["conv2d"] = max(err["conv2d"], (toeplitz.conv2d(x, w, b, s, p, d) - y).abs().max().item())
        # Backprop through the convolution = multiplying the output gradient by Tᵀ.
        upstream = torch.randn(y.shape, generator=g, dtype=torch.float64)
        xg = x.clone().requires_grad_()
        (grad,) = torch.autograd.grad((F.conv2d(xg, w, b, s, p, d) * upstream).sum(), xg)
        t = toeplitz.conv2d_matrix(w, x.shape[2:], s, p, d)
        err["transpose"] = max(err["transpose"], (upstream.flatten(1) @ t - grad.flatten(1)).abs().max().item())
    return err


def pixel_correlations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Correlation of every pair of (non-constant) pixels of (N, H, W) images, with their positions."""
    n, h, w = x.shape
    flat = x.reshape(n, -1).double()
    keep = flat.std(0) > 0  # border pixels that are always blank have no correlation
    corr = torch.corrcoef(flat[:, keep].T)
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pos = torch.stack([rows.flatten(), cols.flatten()], 1)[keep].double()
    return corr, pos, keep


def correlation_by_distance(corr: torch.Tensor, pos: torch.Tensor):
    """Mean correlation of pixel pairs as a function of their (rounded) distance."""
    dist = torch.cdist(pos, pos)
    upper = torch.triu(torch.ones_like(dist, dtype=torch.bool), diagonal=1)
    d, c = dist[upper], corr[upper]
    bins = d.round(decimals=1).unique()
    return bins, torch.stack([c[d.round(decimals=1) == b].mean() for b in bins]), d, c


def autocorrelation(signal: torch.Tensor, max_lag: int) -> torch.Tensor:
    s = (signal - signal.mean()).double()
    return torch.stack([(s[:len(s) - k] * s[k:]).mean() / s.var() for k in range(max_lag + 1)])


def neighbour_correlation(x: torch.Tensor) -> torch.Tensor:
    """(H, W−1): across the N images (N, H, W), the correlation of pixel (i, j) with pixel (i, j+1).
    NaN where either pixel (nearly) never changes, as in the blank borders of the digits."""
    a, b = x[:, :, :-1].double(), x[:, :, 1:].double()
    a, b = a - a.mean(0), b - b.mean(0)
    sa, sb = a.pow(2).mean(0).sqrt(), b.pow(2).mean(0).sqrt()
    r = (a * b).mean(0) / (sa * sb)
    return torch.where((sa > 0.05) & (sb > 0.05), r, float("nan"))


def gradient_support(layers: torch.nn.Sequential, size: int) -> int:
    """Width of the input region that the centre output unit depends on (its receptive field)."""
    x = torch.zeros(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    y = layers(x)
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    cols = (x.grad[0, 0].abs().sum(0) > 0).nonzero().flatten()
    return int(cols.max() - cols.min() + 1)


def receptive_field_formula(stages: list[tuple[int, int]]) -> int:
    """r ← r + (k − 1)·j, j ← j·s over the (kernel, stride) of each layer (03-3.a)."""
    r, j = 1, 1
    for k, s in stages:
        r, j = r + (k - 1) * j, j * s
    return r


def _stack(depth: int, pool: bool) -> tuple[torch.nn.Sequential, list[tuple[int, int]]]:
    layers, stages = [], []
    for i in range(depth):
        conv = torch.nn.Conv2d(1, 1, 3, bias=False).double()
        torch.nn.init.constant_(conv.weight, 1.0)  # positive weights: no accidental cancellation
        layers.append(conv)
        stages.append((3, 1))
        if pool and i < depth - 1:
            layers.append(torch.nn.AvgPool2d(2))  # average pooling: the same field as max, every input counts
            stages.append((2, 2))
    return torch.nn.Sequential(*layers), stages


@experiment(
    name="natural_signals",
    title="Natural signals: convolution as a Toeplitz matrix",
    track="B", parts=("03-3", "04-1"), sources=("03-3", "04-1"), config=Config, quick=dict(trials=5, max_depth=3, photos=False),
    targets={
        "full": {"toeplitz/conv1d_max_err": ("<=", 1e-6), "toeplitz/conv2d_max_err": ("<=", 1e-6),
                 "toeplitz/transpose_max_err": ("<=", 1e-6), "compositionality/mismatches": ("==", 0),
                 "locality/digits_near_minus_far": (">=", 0.4), "locality/permuted_near_minus_far": ("<=", 0.1),
                 "locality/audio_lag1_corr": (">=", 0.5), "locality/shuffled_audio_lag1_corr": ("<=", 0.1),
                 "stationarity/photo_neighbour_corr_std": ("<=", 0.02)},
        "quick": {"toeplitz/conv1d_max_err": ("<=", 1e-6), "toeplitz/conv2d_max_err": ("<=", 1e-6),
                  "toeplitz/transpose_max_err": ("<=", 1e-6), "compositionality/mismatches": ("==", 0),
                  "locality/digits_near_minus_far": (">=", 0.4), "locality/permuted_near_minus_far": ("<=", 0.1),
                  "locality/audio_lag1_corr": (">=", 0.5), "locality/shuffled_audio_lag1_corr": ("<=", 0.1)},
    },
    controls={},
    budget_s=8,
)
def lesson(cfg: Config, run: Run) -> dict[str, float]:
    if cfg.trials < 1 or cfg.max_depth < 1 or cfg.max_lag < 1 or cfg.far <= 1:
        raise UsageError("trials, max_depth and max_lag must be >= 1, far > 1")
    g = torch.Generator().manual_seed(run.seed)
    err = toeplitz_errors(cfg.trials, g)

    # Locality on digits: correlation against distance, then the same after one pixel permutation.
    x, _ = digits("all")
    x = x[:, 0]
    corr, pos, keep = pixel_correlations(x)
    bins, mean_corr, d, c = correlation_by_distance(corr, pos)
    perm = torch.randperm(64, generator=g)
    corr_p, pos_p, _ = pixel_correlations(x.reshape(len(x), 64)[:, perm].reshape(-1, 8, 8))
    bins_p, mean_corr_p, d_p, c_p = correlation_by_distance(corr_p, pos_p)
    near, near_p = c[d == 1].mean().item(), c_p[d_p == 1].mean().item()
    far, far_p = c[d >= cfg.far].mean().item(), c_p[d_p >= cfg.far].mean().item()

    # Locality in sound: neighbouring samples of the melody vs the same samples shuffled.
    signal, _ = melody(seed=run.seed, dtype=torch.float64)
    shuffled = signal[torch.randperm(len(signal), generator=g)]
    ac, ac_shuffled = autocorrelation(signal, cfg.max_lag), autocorrelation(shuffled, cfg.max_lag)

    # Stationarity: each pixel's correlation with its right-hand neighbour, position by position.
    right_digits = neighbour_correlation(x.double())
    right_photos = None
    if cfg.photos:
        right_photos = neighbour_correlation(extract(grey_images(), cfg.photo_crops, cfg.crop, seed=run.seed))

    # Compositionality: receptive fields of stacked layers, and 03-2.h's output-length rule.
    fields, mismatches = [], 0
    for pool in (False, True):
        for depth in range(1, cfg.max_depth + 1):
            layers, stages = _stack(depth, pool)
            formula = receptive_field_formula(stages)
            measured = gradient_support(layers, size=2 * formula + 5)
            fields.append((pool, depth, measured, formula))
            mismatches += measured != formula
    net1d = torch.nn.Sequential(torch.nn.Conv1d(1, 1, 3), torch.nn.MaxPool1d(2),
                                torch.nn.Conv1d(1, 1, 3), torch.nn.MaxPool1d(2))
    for n in range(10, 42):
        mismatches += net1d(torch.zeros(1, 1, n)).shape[-1] != (n - 10) // 4 + 1

    dense = toeplitz.conv2d_matrix(torch.randn(1, 1, 3, 3, generator=g, dtype=torch.float64), (8, 8), padding=1)
    _figures(run, bins, mean_corr, bins_p, mean_corr_p, ac, ac_shuffled, right_digits, right_photos, fields)
    digits_r = right_digits[~right_digits.isnan()]
    photo_metrics = {} if right_photos is None else {
        "stationarity/photo_neighbour_corr_mean": right_photos.mean().item(),
        "stationarity/photo_neighbour_corr_std": right_photos.std().item()}
    return {**photo_metrics,
        "toeplitz/conv1d_max_err": err["conv1d"], "toeplitz/conv2d_max_err": err["conv2d"],
        "toeplitz/transpose_max_err": err["transpose"],
        "toeplitz/density_3x3_on_8x8": (dense != 0).double().mean().item(),  # locality: mostly zeros
        "toeplitz/distinct_values_3x3_on_8x8": float(dense[dense != 0].unique().numel()),  # stationarity: 9
        "locality/digits_corr_near": near, "locality/digits_corr_far": far,
        "locality/digits_near_minus_far": near - far,
        "locality/permuted_near_minus_far": abs(near_p - far_p),
        "locality/audio_lag1_corr": ac[1].item(), "locality/shuffled_audio_lag1_corr": abs(ac_shuffled[1].item()),
        "stationarity/digit_neighbour_corr_std": digits_r.std().item(),
        "compositionality/mismatches": float(mismatches),
    }


def _figures(run, bins, mean_corr, bins_p, mean_corr_p, ac, ac_shuffled, right_digits, right_photos, fields):
    # 1. The matrices: a banded Toeplitz (1-D), a doubly block Toeplitz (2-D), and channels as blocks.
    fig, axes = plots.figure(ncols=3, size=(12, 3.8))
    kernel = torch.tensor([[[1.0, 2.0, 3.0]]], dtype=torch.float64)
    mats = [toeplitz.conv1d_matrix(kernel, 10),
            toeplitz.conv2d_matrix(torch.arange(1.0, 10.0, dtype=torch.float64).view(1, 1, 3, 3), (5, 5)),
            toeplitz.conv1d_matrix(torch.arange(1.0, 13.0, dtype=torch.float64).view(2, 2, 3), 6)]
    titles = ["conv1d, kernel (1,2,3), length 10", "conv2d, 3×3 kernel 1…9, 5×5 image",
              "conv1d, 2 in × 2 out channels, length 6"]
    for ax, m, title in zip(axes[0], mats, titles):
        ax.imshow(m.numpy(), cmap="magma_r")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("input index")
        ax.set_ylabel("output index")
        ax.grid(False)
    run.figure(fig, "toeplitz_matrices")

    # 2. Locality: correlation against distance (digits) and lag (melody), natural vs scrambled.
    fig, axes = plots.figure(ncols=2, size=(9, 3.5))
    axes[0, 0].plot(bins.numpy(), mean_corr.numpy(), "o-", ms=3, label="digits")
    axes[0, 0].plot(bins_p.numpy(), mean_corr_p.numpy(), "o-", ms=3, label="pixels permuted")
    axes[0, 0].set_xlabel("distance between pixels")
    axes[0, 0].set_ylabel("mean correlation")
    axes[0, 0].legend()
    axes[0, 1].plot(ac.numpy(), label="melody")
    axes[0, 1].plot(ac_shuffled.numpy(), label="samples shuffled")
    axes[0, 1].set_xlabel("lag (samples at 22.05 kHz)")
    axes[0, 1].set_ylabel("autocorrelation")
    axes[0, 1].legend()
    run.figure(fig, "locality")

    # 3. Stationarity (photos vs centred digits) and compositionality (receptive fields).
    maps = [("photo crops", right_photos), ("centred digits", right_digits)]
    maps = [(t, m) for t, m in maps if m is not None]
    fig, axes = plots.figure(ncols=len(maps) + 1, size=(4.2 * (len(maps) + 1), 3.5))
    for ax, (title, m) in zip(axes[0], maps):
        im = ax.imshow(m.numpy(), vmin=0, vmax=1)
        fig.colorbar(im, ax=ax)
        ax.set_title(f"{title}: correlation with right neighbour", fontsize=8)
        ax.grid(False)
    ax = axes[0, -1]
    for pool, style in ((False, "o-"), (True, "s-")):
        rows = [f for f in fields if f[0] == pool]
        ax.plot([r[1] for r in rows], [r[2] for r in rows], style,
                        label=("3×3 conv + 2×2 pool" if pool else "3×3 conv") + " (gradient support)")
        ax.plot([r[1] for r in rows], [r[3] for r in rows], "k:", lw=1)
    ax.set_xlabel("layers")
    ax.set_ylabel("receptive field (pixels; dotted: formula)")
    ax.legend(fontsize=7)
    run.figure(fig, "stationarity_compositionality")
