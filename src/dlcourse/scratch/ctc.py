"""CTC, the forward algorithm and Viterbi, from scratch (lectures 11-2, 14-1, 14-2).

CTC (connectionist temporal classification) scores a label sequence l = (l₁ … l_U) against T frames of
per-class log-probabilities without saying which frame is which label: it sums over every frame-level
alignment that collapses to l (merge repeats, then drop blanks ∅). The alignments are the paths of a
lattice over the extended label l′ = (∅, l₁, ∅, l₂, …, l_U, ∅) of length 2U+1, and the sum is the
forward algorithm (11-2.b):

    α_t(s) = (α_{t−1}(s) + α_{t−1}(s−1) + [l′_s ≠ ∅ and l′_s ≠ l′_{s−2}] α_{t−1}(s−2)) · p_t(l′_s),
    loss   = −log(α_T(2U+1) + α_T(2U))            (1-based s; computed in log space).

`ctc_loss` runs that recursion for the whole batch at once (a loop over time only, a few tensor ops
per frame, with a large negative number standing for log 0) and matches `nn.CTCLoss` (same arguments,
reductions, `zero_infinity`, inf for impossible targets). It is about 10x slower than PyTorch's C++
kernel, which is why the lesson trains with the latter by default. About gradients: PyTorch's CTC backward returns the
gradient with respect to the *logits* under the assumption that `log_probs` came out of
`log_softmax`, not the gradient with respect to `log_probs` itself; the two agree once both go
through `log_softmax`, which is how the tests compare them.

The same lattice with max instead of sum is Viterbi: `ctc_viterbi` returns the single best alignment.
`lattice_forward` and `lattice_viterbi` are the general versions on any DAG of arcs with energies
(14-2.d, with the 1/β of erratum 14): α_j = −(1/β) log Σ_{arcs k→j} exp(−β(α_k + e_kj)) vs
α_j = min_{arcs k→j} (α_k + e_kj); as β → ∞ the first tends to the second.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

NEG_INF = float("-inf")


def _logsumexp(*terms: torch.Tensor) -> torch.Tensor:
    """log Σ exp(terms), elementwise, safe when every term is −inf (value −inf, gradient 0, no NaN).

    torch.logsumexp gives a NaN gradient there (its backward computes exp(−inf − (−inf))), and
    unreachable lattice nodes are exactly that case, so the log of an empty sum is guarded twice.
    (`ctc_forward` avoids the issue differently, with the finite LOG_ZERO.)
    """
    m = terms[0]
    for t in terms[1:]:
        m = torch.maximum(m, t)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m)).detach()  # any shift is exact; use a safe one
    s = sum(torch.exp(t - m) for t in terms)
    positive = s > 0
    return torch.where(positive, torch.log(torch.where(positive, s, torch.ones_like(s))) + m, NEG_INF)


def pad_targets(targets: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
    """Concatenated 1-D targets (as nn.CTCLoss also accepts) → padded (N, S_max); padded ones unchanged."""
    if targets.dim() == 2:
        return targets
    width = int(target_lengths.max()) if len(target_lengths) else 0
    out = torch.zeros(len(target_lengths), width, dtype=torch.long, device=targets.device)
    start = 0
    for i, n in enumerate(target_lengths.tolist()):
        out[i, :n] = targets[start:start + n]
        start += n
    return out


def extended_labels(targets: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """(N, S) → (N, 2S+1): a blank before, between and after the labels."""
    n, s = targets.shape
    ext = torch.full((n, 2 * s + 1), blank, dtype=torch.long, device=targets.device)
    ext[:, 1::2] = targets
    return ext


def _can_skip(ext: torch.Tensor, blank: int) -> torch.Tensor:
    """(N, 2S+1) bool: may a path jump from s−2 to s? Only onto a label that differs from l′_{s−2}."""
    skip = torch.zeros_like(ext, dtype=torch.bool)
    skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    return skip


# log(0) in the recursion. A finite stand-in for −inf keeps the inner loop to a handful of tensor ops:
# torch.logsumexp is then safe (no −inf − (−inf) = NaN in its gradient) and a forbidden move is simply
# "+ LOG_ZERO". exp(LOG_ZERO − anything reasonable) is exactly 0, so values are unaffected; sums of a
# few LOG_ZEROs stay far from overflow in float32 and float64. Losses beyond −LOG_ZERO/10 mean "impossible".
LOG_ZERO = -1e30


def ctc_forward(log_probs: torch.Tensor, targets: torch.Tensor, input_lengths: torch.Tensor,
                target_lengths: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """log α of every frame: (T, N, 2S+1) (LOG_ZERO-ish where unreachable).

    Frames past a sample's input length repeat its last α.
    """
    t_max = log_probs.shape[0]
    targets = pad_targets(targets, target_lengths)
    ext = extended_labels(targets, blank)                                     # (N, L')
    jump_ok = torch.where(_can_skip(ext, blank), 0.0, LOG_ZERO).to(log_probs.dtype)
    emit = log_probs.gather(2, ext.unsqueeze(0).expand(t_max, -1, -1))       # (T, N, L'): log p_t(l′_s)
    running = (torch.arange(t_max, device=log_probs.device)[:, None] < input_lengths[None, :]).unsqueeze(2)
    # t = 0: a path starts on the first blank or on the first label.
    alpha = torch.full_like(emit[0], LOG_ZERO)
    alpha[:, :2] = emit[0, :, :2]
    alphas = [alpha]
    for t in range(1, t_max):
        shifted = F.pad(alpha, (2, 0), value=LOG_ZERO)                      # shifted[:, s + 2] = α(s)
        moves = torch.stack([alpha, shifted[:, 1:-1], shifted[:, :-2] + jump_ok])  # stay, step, jump
        new = torch.logsumexp(moves, 0) + emit[t]
        alpha = torch.where(running[t], new, alpha)                          # finished samples stay put
        alphas.append(alpha)
    return torch.stack(alphas)


def _check_ctc_shapes(log_probs, targets, input_lengths, target_lengths) -> None:
    """ValueError unless the arguments have shapes (and lengths) that F.ctc_loss takes, batched."""
    t_max, n = log_probs.shape[:2]
    if input_lengths.shape != (n,):
        raise ValueError(f"input_lengths must be (N,) = ({n},), one per sample, got {tuple(input_lengths.shape)}")
    if target_lengths.shape != (n,):
        raise ValueError(f"target_lengths must be (N,) = ({n},), one per sample, got {tuple(target_lengths.shape)}")
    if targets.dim() == 2 and targets.shape[0] != n or targets.dim() not in (1, 2):
        raise ValueError(f"targets must be (N, S) padded, with N = {n}, or 1-D concatenated, "
                         f"got {tuple(targets.shape)}")
    if n and int(input_lengths.max()) > t_max:
        raise ValueError(f"input_lengths must be at most T = {t_max}, got {input_lengths.tolist()}")
    if targets.dim() == 2 and n and int(target_lengths.max()) > targets.shape[1]:
        raise ValueError(f"target_lengths must be at most S = {targets.shape[1]} (the padded targets' width), "
                         f"got {target_lengths.tolist()}")
    if targets.dim() == 1 and int(target_lengths.sum()) > len(targets):
        raise ValueError(f"the sum of target_lengths ({int(target_lengths.sum())}) exceeds the "
                         f"{len(targets)} concatenated targets")


def ctc_loss(log_probs: torch.Tensor, targets: torch.Tensor, input_lengths: torch.Tensor,
             target_lengths: torch.Tensor, blank: int = 0, reduction: str = "mean",
             zero_infinity: bool = False) -> torch.Tensor:
    """−log p(target | input) by the forward algorithm; the arguments of F.ctc_loss.

    log_probs (T, N, C) log-softmax outputs; targets (N, S) padded or concatenated 1-D; lengths (N,).
    One unbatched sample, as nn.CTCLoss takes it: log_probs (T, C), targets (S,), lengths () or (1,);
    the loss then has no batch dimension either.
    reduction "mean" divides each loss by its target length, then averages (PyTorch's convention).
    """
    if log_probs.dim() not in (2, 3):
        raise ValueError(f"log_probs must be (T, N, C) or unbatched (T, C), got {tuple(log_probs.shape)}")
    input_lengths = torch.as_tensor(input_lengths, device=log_probs.device)
    target_lengths = torch.as_tensor(target_lengths, device=log_probs.device)
    if log_probs.dim() == 2:  # a batch of one; its 1-D targets read as concatenated ones of one sample
        loss = ctc_loss(log_probs[:, None], targets, input_lengths.reshape(-1), target_lengths.reshape(-1),
                        blank, reduction, zero_infinity)
        return loss[0] if reduction == "none" else loss
    _check_ctc_shapes(log_probs, targets, input_lengths, target_lengths)
    alpha = ctc_forward(log_probs, targets, input_lengths, target_lengths, blank)
    last = alpha[input_lengths - 1, torch.arange(alpha.shape[1], device=alpha.device)]  # (N, L')
    end = 2 * target_lengths                                      # 0-based index of the final blank
    final_blank = last.gather(1, end.unsqueeze(1)).squeeze(1)
    final_label = last.gather(1, (end - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
    final_label = torch.where(target_lengths > 0, final_label, LOG_ZERO)  # an empty target has no label
    loss = -torch.logsumexp(torch.stack([final_blank, final_label]), 0)
    loss = torch.where(loss > -LOG_ZERO / 10, torch.inf, loss)    # no alignment fits: p = 0
    if zero_infinity:
        loss = torch.where(torch.isinf(loss), torch.zeros_like(loss), loss)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return (loss / target_lengths.clamp(min=1).to(loss.dtype)).mean()
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def greedy_decode(log_probs: torch.Tensor, input_lengths: torch.Tensor | None = None,
                  blank: int = 0) -> list[list[int]]:
    """Best class per frame, then collapse repeats and drop blanks: one label list per sample."""
    best = log_probs.argmax(-1).T.cpu()                                    # (N, T)
    t_max = best.shape[1]
    lengths = torch.full((len(best),), t_max) if input_lengths is None else torch.as_tensor(input_lengths).cpu()
    new = torch.ones_like(best, dtype=torch.bool)
    new[:, 1:] = best[:, 1:] != best[:, :-1]
    keep = new & (best != blank) & (torch.arange(t_max) < lengths[:, None])
    return [row[k].tolist() for row, k in zip(best, keep)]


def ctc_viterbi(log_probs: torch.Tensor, target: torch.Tensor, blank: int = 0) -> tuple[float, list[int]]:
    """The best single alignment of one sample: (its log-probability, the class of every frame).

    log_probs (T, C), target (U,). Same lattice as `ctc_forward`, with max in place of log-sum-exp.
    """
    ext = extended_labels(target.view(1, -1).cpu(), blank)[0]
    lp = log_probs.detach().cpu()
    t_max, n_states = lp.shape[0], len(ext)
    skip = _can_skip(ext.view(1, -1), blank)[0]
    emit = lp[:, ext]                                                      # (T, L')
    score = torch.full((n_states,), NEG_INF, dtype=lp.dtype)
    score[:2] = emit[0, :2]
    back = torch.zeros(t_max, n_states, dtype=torch.long)                 # how far each state came from
    for t in range(1, t_max):
        shifted = F.pad(score, (2, 0), value=NEG_INF)
        cand = torch.stack([score, shifted[1:-1], torch.where(skip, shifted[:-2], NEG_INF)])  # stay, step, jump
        best, back[t] = cand.max(0)
        score = best + emit[t]
    ends = [n_states - 1] + ([n_states - 2] if n_states > 1 else [])
    s = max(ends, key=lambda e: score[e].item())
    total, path = score[s].item(), []
    for t in range(t_max - 1, -1, -1):
        path.append(int(ext[s]))
        s -= int(back[t, s])
    return total, path[::-1]


def collapse(path: list[int], blank: int = 0) -> list[int]:
    """CTC's many-to-one map: merge repeated classes, then drop blanks."""
    return [c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])]


# --- the general lattice: any DAG whose nodes 0 … n−1 are numbered in topological order ----------

def lattice_forward(n_nodes: int, src: torch.Tensor, dst: torch.Tensor, energy: torch.Tensor,
                    beta: float = 1.0) -> torch.Tensor:
    """Free energy of every node from node 0: α_j = −(1/β) log Σ_{arcs k→j} exp(−β(α_k + e_kj)).

    Differentiable in `energy`; ∂α_{n−1}/∂e is the posterior probability of each arc being on the path.
    """
    _check_topological(n_nodes, src, dst)
    alpha = [energy.new_zeros(())] + [None] * (n_nodes - 1)
    for j in range(1, n_nodes):
        arcs = (dst == j).nonzero().flatten().tolist()
        if not arcs:
            alpha[j] = energy.new_tensor(math.inf)
            continue
        terms = [-beta * (alpha[int(src[a])] + energy[a]) for a in arcs]
        alpha[j] = -_logsumexp(*terms) / beta
    return torch.stack(alpha)


def lattice_viterbi(n_nodes: int, src: torch.Tensor, dst: torch.Tensor,
                    energy: torch.Tensor) -> tuple[float, list[int]]:
    """Lowest total energy from node 0 to node n−1, and the arcs (indices) of that path."""
    _check_topological(n_nodes, src, dst)
    best = [0.0] + [math.inf] * (n_nodes - 1)
    came_by = [-1] * n_nodes
    for a in sorted(range(len(src)), key=lambda a: int(dst[a])):  # every arc after all arcs into its source
        k, j = int(src[a]), int(dst[a])
        if best[k] + float(energy[a]) < best[j]:
            best[j], came_by[j] = best[k] + float(energy[a]), a
    path, node = [], n_nodes - 1
    while node != 0 and came_by[node] >= 0:
        path.append(came_by[node])
        node = int(src[came_by[node]])
    return best[-1], path[::-1]


def lattice_paths(n_nodes: int, src: torch.Tensor, dst: torch.Tensor) -> list[list[int]]:
    """Every path from node 0 to node n−1 as a list of arc indices: the brute-force reference."""
    out_arcs: dict[int, list[int]] = {}
    for a, k in enumerate(src.tolist()):
        out_arcs.setdefault(k, []).append(a)
    paths, stack = [], [(0, [])]
    while stack:
        node, arcs = stack.pop()
        if node == n_nodes - 1:
            paths.append(arcs)
            continue
        for a in out_arcs.get(node, []):
            stack.append((int(dst[a]), arcs + [a]))
    return paths


def _check_topological(n_nodes: int, src: torch.Tensor, dst: torch.Tensor) -> None:
    if len(src) != len(dst) or (len(src) and (bool((src >= dst).any()) or int(dst.max()) >= n_nodes)):
        raise ValueError("arcs must go from a lower to a higher node number, all below n_nodes")


def ctc_lattice(log_probs: torch.Tensor, target: torch.Tensor, blank: int = 0):
    """The CTC alignment lattice of one sample as an explicit DAG with energies −log p.

    Nodes: 0 = start, then one node per (frame t, state s), then the end node. Returns
    (n_nodes, src, dst, energy); `lattice_forward` at β = 1 gives the CTC loss at the end node.
    """
    ext = extended_labels(target.view(1, -1).cpu(), blank)[0].tolist()
    t_max, n_states = log_probs.shape[0], len(ext)
    node = lambda t, s: 1 + t * n_states + s  # noqa: E731
    end = 1 + t_max * n_states
    src, dst, which = [], [], []  # which: (t, class) whose −log p is the arc's energy, or None
    for s in range(min(2, n_states)):
        src.append(0), dst.append(node(0, s)), which.append((0, ext[s]))
    for t in range(1, t_max):
        for s in range(n_states):
            for k in (0, 1, 2):
                if s - k < 0 or (k == 2 and (ext[s] == blank or ext[s] == ext[s - 2])):
                    continue
                src.append(node(t - 1, s - k)), dst.append(node(t, s)), which.append((t, ext[s]))
    for s in {n_states - 1, max(n_states - 2, 0)}:
        src.append(node(t_max - 1, s)), dst.append(end), which.append(None)
    energy = torch.stack([-log_probs[w] if w is not None else log_probs.new_zeros(()) for w in which])
    return end + 1, torch.tensor(src), torch.tensor(dst), energy


__all__ = ["ctc_loss", "ctc_forward", "greedy_decode", "ctc_viterbi", "collapse", "extended_labels",
           "pad_targets", "lattice_forward", "lattice_viterbi", "lattice_paths", "ctc_lattice"]
