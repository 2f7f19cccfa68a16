"""D7 sequence tasks (dlcourse.data.sequences), D6 melody (dlcourse.data.audio) and the Seq2Seq model."""

import math

import pytest
import torch

from dlcourse.data import audio, sequences
from dlcourse.models.seq2seq import Seq2Seq

# -- temporal order -----------------------------------------------------------------------------


@pytest.mark.parametrize("level", list(sequences.LEVELS))
@pytest.mark.parametrize("padding", ["pre", "post"])
def test_temporal_order_follows_the_rules(level, padding):
    x, y, lengths = sequences.temporal_order(64, level, seed=3, padding=padding)
    (lo, hi), (t1lo, t1hi), (t2lo, t2hi) = sequences.LEVELS[level]
    assert x.shape == (64, hi, 8) and y.shape == (64,) and lengths.shape == (64,)
    assert ((lengths >= lo) & (lengths < hi)).all()
    for i in range(64):
        s = sequences.decode(x[i])
        assert len(s) == lengths[i]
        assert s[0] == "B" and s[-1] == "E"
        marks = [j for j, c in enumerate(s) if c in "XY"]
        assert len(marks) == 2 and t1lo <= marks[0] < t1hi and t2lo <= marks[1] < t2hi
        assert set(s[1:-1]) - set("XY") <= set("abcd")
        assert sequences.CLASSES[int(y[i])] == {"XX": "Q", "XY": "R", "YX": "S", "YY": "U"}[s[marks[0]] + s[marks[1]]]
        rows = x[i].sum(-1)
        assert set(rows.tolist()) <= {0.0, 1.0}
        valid = rows > 0  # padding before the sequence ("pre") or after it ("post"), never inside
        n = int(lengths[i])
        expected = torch.arange(hi) >= hi - n if padding == "pre" else torch.arange(hi) < n
        assert torch.equal(valid, expected)


def test_temporal_order_is_deterministic_and_balanced():
    a = sequences.temporal_order(4000, "easy", seed=5)
    b = sequences.temporal_order(4000, "easy", seed=5)
    c = sequences.temporal_order(4000, "easy", seed=6)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], c[0])
    counts = torch.bincount(a[1], minlength=4).float() / 4000
    assert (counts - 0.25).abs().max() < 0.03


def test_temporal_order_bad_arguments():
    with pytest.raises(ValueError):
        sequences.temporal_order(10, "impossible")
    with pytest.raises(ValueError):
        sequences.temporal_order(10, padding="middle")
    with pytest.raises(ValueError):
        sequences.temporal_order(0)


# -- echo and digit strings ----------------------------------------------------------------------


def test_echo_is_the_input_delayed():
    x, y = sequences.echo(3, 50, lag=4, seed=1)
    assert x.shape == y.shape == (3, 50)
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    assert (y[:, :4] == 0).all() and torch.equal(y[:, 4:], x[:, :-4])
    assert torch.equal(sequences.echo(3, 50, 4, seed=1)[0], x)
    x, y = sequences.echo(2, 10, lag=0, seed=0)
    assert torch.equal(x, y)
    big, _ = sequences.echo(8, 5000, seed=2)
    assert abs(big.mean().item() - 0.5) < 0.02


def test_echo_with_a_shared_generator_gives_fresh_streams():
    g = torch.Generator().manual_seed(0)
    assert not torch.equal(sequences.echo(2, 30, seed=g)[0], sequences.echo(2, 30, seed=g)[0])


def test_digit_pairs():
    src, tgt = sequences.digit_pairs(5, 7, "reverse", seed=0)
    assert src.shape == tgt.shape == (5, 7) and src.dtype == torch.long
    assert torch.equal(tgt, src.flip(1)) and int(src.max()) < 10
    src, tgt = sequences.digit_pairs(5, 7, "copy", vocab=3, seed=0)
    assert torch.equal(src, tgt) and int(src.max()) < 3
    with pytest.raises(ValueError):
        sequences.digit_pairs(5, 7, "sort")


# -- melody --------------------------------------------------------------------------------------


def test_tone_is_a_sinusoid():
    k = audio.tone(1000.0, 0.01, sample_rate=8000, dtype=torch.float64)
    assert k.shape == (80,)
    assert k[2].item() == pytest.approx(math.sin(2 * math.pi * 1000 * 2 / 8000))


def test_melody_places_each_note_at_its_onset():
    x, onsets = audio.melody(noise=0.0, seed=4, dtype=torch.float64)
    sr, n = audio.SAMPLE_RATE, round(0.4 * audio.SAMPLE_RATE)
    assert onsets.shape == (4,) and (onsets[1:] - onsets[:-1] >= 0.4 - 1e-9).all()
    assert 0.1 <= onsets[0] <= 0.4
    starts = (onsets * sr).round().long().tolist()
    assert x[:starts[0]].abs().max() == 0  # silence before the first note (no noise here)
    for start, f in zip(starts, audio.NOTES.values()):
        note = x[start:start + n]
        spectrum = torch.fft.rfft(note).abs()
        peak = torch.fft.rfftfreq(n, 1 / sr)[spectrum.argmax()]
        assert abs(peak - f) <= 2.5  # the frequency resolution of a 0.4 s window
    assert x.abs().max() <= 1.0
    x2, onsets2 = audio.melody(noise=0.0, seed=4, dtype=torch.float64)
    assert torch.equal(x, x2) and torch.equal(onsets, onsets2)


def test_melody_rejects_frequencies_above_nyquist():
    with pytest.raises(ValueError):
        audio.melody((5000.0,), sample_rate=8000)


# -- Seq2Seq -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kw", [dict(cell="gru", attention=True), dict(cell="lstm", attention=False),
                                dict(cell="lstm", attention=True, bidirectional=True, positions=9),
                                dict(cell="gru", attention=False, bidirectional=True, layers=2)])
def test_seq2seq_shapes_and_greedy_consistency(kw):
    torch.manual_seed(0)
    model = Seq2Seq(10, hidden=16, embed=8, **kw).double().eval()
    src, tgt = sequences.digit_pairs(5, 9, seed=0)
    logits, attention = model(src, tgt)
    assert logits.shape == (5, 9, 10)
    pred, greedy_attention = model.greedy(src, 9)
    assert pred.shape == (5, 9)
    if kw["attention"]:
        assert attention.shape == greedy_attention.shape == (5, 9, 9)
        torch.testing.assert_close(attention.sum(-1), torch.ones(5, 9, dtype=torch.float64))
    else:
        assert attention is None and greedy_attention is None
    # Greedy decoding is teacher forcing on its own predictions: the same logits, step by step.
    forced, _ = model(src, pred)
    assert torch.equal(forced.argmax(-1), pred)


def test_seq2seq_parameter_count():
    model = Seq2Seq(10, hidden=4, embed=3, cell="lstm", attention=True)
    lstm = lambda i, h: 4 * h * (i + h + 2)  # noqa: E731
    expected = 10 * 3 + 11 * 3 + 2 * lstm(3, 4) + 4 * 4 + (8 * 4 + 4) + (4 * 10 + 10)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_seq2seq_bad_arguments():
    with pytest.raises(ValueError):
        Seq2Seq(10, cell="transformer")
    with pytest.raises(ValueError):
        Seq2Seq(10, hidden=5, bidirectional=True)
    with pytest.raises(ValueError):
        Seq2Seq(10, positions=4)(*sequences.digit_pairs(2, 6))
