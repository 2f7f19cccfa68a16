"""K-means from scratch (dlcourse.scratch.kmeans): Lloyd ≡ scikit-learn from the same seeds, the
energy never increases, k-means++ picks data points, and Σ F_∞ is the inertia."""

import pytest
import torch

from dlcourse.data.toy2d import moons, swiss_roll_2d
from dlcourse.scratch import kmeans as K


def test_energies_are_squared_distances():
    g = torch.Generator().manual_seed(0)
    y = torch.randn(7, 3, generator=g, dtype=torch.float64)
    c = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    direct = ((y[None, :, None, :] - c[:, None, :, :]) ** 2).sum(-1)
    torch.testing.assert_close(K.energies(y, c), direct, rtol=0, atol=1e-12)
    assert K.energies(y, c).shape == (2, 7, 4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lloyd_matches_sklearn_from_the_same_initial_centres(seed):
    from sklearn.cluster import KMeans

    y = swiss_roll_2d(600, seed=seed).double()
    init = K.kmeans_plus_plus(y, 7, restarts=1, generator=torch.Generator().manual_seed(seed))
    centres, assign, _ = K.lloyd(y, init, max_iter=500)
    ref = KMeans(7, init=init[0].numpy(), n_init=1, max_iter=500, tol=0, algorithm="lloyd").fit(y.numpy())
    torch.testing.assert_close(centres[0], torch.from_numpy(ref.cluster_centers_), rtol=0, atol=1e-9)
    assert torch.equal(assign[0], torch.from_numpy(ref.labels_).long())
    inertia = K.energies(y, centres[0]).min(-1).values.sum()
    assert inertia.item() == pytest.approx(ref.inertia_, rel=1e-9)


def test_energy_never_increases_over_restarts():
    y = moons(800, seed=3)[0].double()
    init = K.kmeans_plus_plus(y, 12, restarts=6, generator=torch.Generator().manual_seed(3))
    _, _, history = K.lloyd(y, init)
    assert history.shape[1] == 6
    assert ((history[1:] - history[:-1]) <= 1e-12).all()


def test_kmeans_plus_plus_picks_distinct_data_points_and_is_seeded():
    y = moons(300, seed=0)[0]
    c = K.kmeans_plus_plus(y, 5, restarts=3, generator=torch.Generator().manual_seed(1))
    assert c.shape == (3, 5, 2)
    for run in c:
        matches = (run[:, None, :] == y[None]).all(-1)
        assert matches.any(1).all()  # every centre is a data point
        assert len(torch.unique(run, dim=0)) == 5  # D² sampling never re-picks a centre
    again = K.kmeans_plus_plus(y, 5, restarts=3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(c, again)
    with pytest.raises(ValueError):
        K.kmeans_plus_plus(y, 0)


def test_empty_cluster_keeps_its_prototype():
    y = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0]], dtype=torch.float64)
    init = torch.tensor([[[0.0, 0.0], [5.0, 5.0], [100.0, 100.0]]], dtype=torch.float64)
    centres, assign, _ = K.lloyd(y, init)
    torch.testing.assert_close(centres[0, 2], torch.tensor([100.0, 100.0], dtype=torch.float64))
    assert assign[0].tolist() == [0, 0, 1]


def test_kmeans_best_restart_is_the_lowest_inertia():
    y = swiss_roll_2d(500, seed=4).double()
    centres, inertia, history = K.kmeans(y, 6, restarts=5, seed=4)
    assert centres.shape == (6, 2)
    assert inertia.item() == pytest.approx(history[-1].min().item() * 500, rel=1e-9)
