"""FD, KD and PRDC equal the references the paper used (torchmetrics, prdc 0.2) on the same features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unix.evaluation import frechet_distance, kernel_distance, prdc
from unix.evaluation.distances import kernel_distance_subsets

tm_fid = pytest.importorskip("torchmetrics.image.fid")
tm_kid = pytest.importorskip("torchmetrics.image.kid")
prdc_ref = pytest.importorskip("prdc")


class Identity(torch.nn.Module):
    """A feature module that returns its input: feeds precomputed features to torchmetrics."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def features(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """RadDino-like features: correlated, with a non-zero mean (float32, as the extractor returns)."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    x = rng.standard_normal((n, d)) @ mix + 0.5 + shift
    return x.astype(np.float32)


def torchmetrics_fd(real: np.ndarray, fake: np.ndarray) -> float:
    fid = tm_fid.FrechetInceptionDistance(feature=Identity(real.shape[1]))
    fid.update(torch.from_numpy(real), real=True)
    fid.update(torch.from_numpy(fake), real=False)
    return float(fid.compute())


def torchmetrics_kd(real: np.ndarray, fake: np.ndarray, subsets: int, size: int) -> float:
    kid = tm_kid.KernelInceptionDistance(feature=Identity(real.shape[1]), subsets=subsets, subset_size=size)
    kid.update(torch.from_numpy(real), real=True)
    kid.update(torch.from_numpy(fake), real=False)
    return float(kid.compute()[0])


@pytest.mark.parametrize("n_real,n_fake,d", [(400, 300, 32), (60, 50, 96)])  # second: N < D, singular
def test_fd_equals_torchmetrics(n_real: int, n_fake: int, d: int) -> None:
    real, fake = features(n_real, d, 0), features(n_fake, d, 1, shift=0.2)
    ours, ref = frechet_distance(real, fake), torchmetrics_fd(real, fake)
    assert ours == pytest.approx(ref, rel=1e-6)


def test_fd_is_zero_for_identical_sets_and_symmetric() -> None:
    a, b = features(200, 16, 0), features(150, 16, 1, shift=1.0)
    assert abs(frechet_distance(a, a)) < 1e-8
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)


def test_kd_whole_set_equals_torchmetrics() -> None:
    real, fake = features(300, 48, 0), features(300, 48, 1, shift=0.1)
    ours = kernel_distance(real, fake, num_subsets=100)
    # torchmetrics works in the features' dtype: float64 features give its exact value, float32 its rounding
    ref64 = torchmetrics_kd(real.astype(np.float64), fake.astype(np.float64), subsets=3, size=300)
    ref32 = torchmetrics_kd(real, fake, subsets=3, size=300)
    assert ours == pytest.approx(ref64, rel=1e-9)
    assert ours == pytest.approx(ref32, rel=1e-3)


def test_kd_random_subsets_equal_torchmetrics_with_the_same_seed() -> None:
    real, fake = features(120, 16, 0).astype(np.float64), features(90, 16, 1, shift=0.3).astype(np.float64)
    torch.manual_seed(7)
    ref = torchmetrics_kd(real, fake, subsets=5, size=40)
    ours = kernel_distance(real, fake, num_subsets=5, subset_size=40, seed=7)
    assert ours == pytest.approx(ref, rel=1e-9)
    assert np.ptp(kernel_distance_subsets(real, fake, 5, 40, seed=7)) > 0  # the subsets really differ


def test_kd_rejects_a_subset_larger_than_a_set() -> None:
    with pytest.raises(ValueError, match="subset_size"):
        kernel_distance(features(20, 4, 0), features(10, 4, 1), subset_size=15)


@pytest.mark.parametrize("n_real,n_fake,k,dtype", [(500, 430, 5, np.float32), (1300, 1100, 3, np.float32),
                                                   (200, 260, 5, np.float64)])
def test_prdc_equals_prdc_package(n_real: int, n_fake: int, k: int, dtype: type) -> None:
    # 1300 rows cross the 1024-row block boundary, so the blocked path is exercised
    real = features(n_real, 24, 0).astype(dtype)
    fake = features(n_fake, 24, 1, shift=0.15).astype(dtype)
    ref = prdc_ref.compute_prdc(real, fake, nearest_k=k)
    ours = prdc(real, fake, k=k)
    assert ours == {key: pytest.approx(float(v), abs=1e-12) for key, v in ref.items()}


def test_prdc_with_duplicate_points_equals_prdc_package() -> None:
    real = features(150, 8, 0)
    real[10:20] = real[0]  # ties: radii of duplicated points are zero
    fake = np.concatenate([real[:50], features(100, 8, 3)])
    ref = prdc_ref.compute_prdc(real, fake, nearest_k=5)
    assert prdc(real, fake, k=5) == {key: pytest.approx(float(v), abs=1e-12) for key, v in ref.items()}


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="differ in width"):
        frechet_distance(features(10, 4, 0), features(10, 5, 0))
    bad = features(10, 4, 0)
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        prdc(bad, features(10, 4, 1))


def test_inputs_are_not_modified() -> None:
    a, b = features(50, 8, 0).astype(np.float64), features(40, 8, 1)
    a0, b0 = a.copy(), b.copy()
    frechet_distance(a, b), kernel_distance(a, b), prdc(a, b)
    assert np.array_equal(a, a0) and np.array_equal(b, b0)


def _prdc_ref(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, object]:
    ref = prdc_ref.compute_prdc(real, fake, nearest_k=k)
    return {key: pytest.approx(float(v), abs=1e-12) for key, v in ref.items()}


@pytest.mark.parametrize("case", ["offset", "float64", "mixed", "duplicates", "low_rank"])
def test_prdc_float32_screening_equals_float64_path_and_prdc(case: str) -> None:
    # the screened path (float32 GEMM + exact re-checks) must give the float64 path's and prdc's values
    # on data that stresses the error bound: a large common offset, float64 input, ties, rank-deficient sets
    real, fake = features(700, 40, 0), features(600, 40, 1, shift=0.1)
    if case == "offset":
        real, fake = real + 300.0, fake + 300.0
    elif case == "float64":
        real, fake = real.astype(np.float64), fake.astype(np.float64)
    elif case == "mixed":
        fake = fake.astype(np.float64)
    elif case == "duplicates":
        real[1:30] = real[0]
        fake[:40] = real[100:140]
    elif case == "low_rank":
        real = (real[:, :3] @ features(3, 40, 5)).astype(np.float32)
        fake = (fake[:, :3] @ features(3, 40, 6)).astype(np.float32)
    ours = prdc(real, fake, k=5)
    assert ours == prdc(real, fake, k=5, screen=False)
    assert ours == _prdc_ref(real, fake, 5)


def test_prdc_screening_with_a_loose_bound_and_few_candidates_still_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    # a 1e4x looser error bound sends many pairs near every radius to the exact float64 check, and a single
    # spare candidate forces rows through the full-row fallback: neither may change any value
    from unix.evaluation import distances

    real, fake = features(500, 24, 0), features(450, 24, 1, shift=0.05)
    expected = _prdc_ref(real, fake, 4)
    original = distances._Screen.__init__

    def loose(self: distances._Screen, x: torch.Tensor, mu: torch.Tensor) -> None:
        original(self, x, mu)
        self.a32 *= 1e4

    monkeypatch.setattr(distances._Screen, "__init__", loose)
    monkeypatch.setattr(distances, "_EXTRA", 1)
    assert prdc(real, fake, k=4) == expected


def test_prdc_falls_back_to_float64_when_float32_matmuls_may_be_reduced(monkeypatch: pytest.MonkeyPatch) -> None:
    from unix.evaluation import distances

    monkeypatch.setattr(torch, "get_float32_matmul_precision", lambda: "medium")
    monkeypatch.setattr(distances, "_screened_prdc_counts", None)  # would raise if it were called
    real, fake = features(120, 8, 0), features(110, 8, 1)
    assert prdc(real, fake, k=3) == _prdc_ref(real, fake, 3)


@pytest.mark.parametrize("case", ["large_mean", "near_singular", "odd_width"])
def test_fd_adversarial_inputs_equal_torchmetrics(case: str) -> None:
    # the covariance is multiplied in strips of its upper triangle from one shared centred buffer (sized for the
    # larger set); these inputs stress that path and the float64 accuracy the 1e-6 agreement rests on
    if case == "large_mean":
        real, fake = features(500, 64, 0) + 1000.0, features(420, 64, 1, shift=0.3) + 1000.0
    elif case == "near_singular":
        basis = features(4, 64, 7)
        real = (features(500, 4, 0) @ basis + 1e-4 * features(500, 64, 2)).astype(np.float32)
        fake = (features(450, 4, 1) @ basis * 1.1 + 1e-4 * features(450, 64, 3)).astype(np.float32)
    else:
        real, fake = features(333, 101, 0), features(517, 101, 1, shift=0.2)
    assert frechet_distance(real, fake) == pytest.approx(torchmetrics_fd(real, fake), rel=1e-6)
