"""Distances between feature sets: FD, KD and PRDC, equal to the references the paper used, but faster.

The references (CheXGenBench, UniX) are torchmetrics' ``FrechetInceptionDistance`` and
``KernelInceptionDistance`` fed RadDino features, and ``prdc==0.2``. The functions here take the same
(N, D) feature arrays and return the same numbers (the tests hold them to it), computed differently:

* FD: float64 as torchmetrics, but Tr sqrt(S_r S_f) from the symmetric eigenvalues of L^T S_f L
  (S_r = L L^T, Cholesky) instead of the general ``eigvals`` of the non-symmetric product S_r S_f.
* KD: when the subset size is the whole of both sets (the paper's case: ``subset_size = min(n_real, n_fake)``
  with equal sizes), every one of the 100 subsets is a permutation of the same set and the unbiased MMD^2 is
  permutation invariant, so it is computed once, in float64, using the symmetry of the kernel matrices.
  Otherwise the subsets are drawn exactly as torchmetrics does (``torch.randperm`` from a generator
  seeded with ``seed``), so the same seed gives the same subsets.
* PRDC: the same distances as sklearn's ``pairwise_distances`` (float64 products, cast to the input dtype,
  then the square root), computed in 1024-row blocks so that no N x N matrix is ever alive (peak: one
  1024 x N float64 block); each block is one GEMM on features augmented with their squared norms; the k-th
  neighbour radii use the symmetry of the real-real and fake-fake distances (half the products), and the
  comparisons run on squared values against exact square-root thresholds (no square root per pair).
  The float64 products stay: float32 screening with exact re-checks was tried and did not pay off on CPU.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

_BLOCK = 1024


def _as_features(x: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().cpu()
    if t.ndim != 2:
        raise ValueError(f"{name} must be an (N, D) feature array, got shape {tuple(t.shape)}")
    if t.shape[0] < 2:
        raise ValueError(f"{name} has {t.shape[0]} rows; these metrics need at least 2 samples per set")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf; check the feature extraction that produced it")
    return t


def _check_pair(real: torch.Tensor, fake: torch.Tensor) -> None:
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"real and fake features differ in width ({real.shape[1]} vs {fake.shape[1]}); "
            "extract both with the same feature extractor"
        )


def _blocks(n: int, size: int = _BLOCK) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


# --------------------------------------------------------------------------------------------- FD


def gaussian_stats(features: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance of (N, D) features, in float64."""
    return _gaussian_stats(_as_features(features, "features"))


def _gaussian_stats(given: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # `given` shares memory with the caller's array; the centred float64 copy is new (type promotion)
    mu_D = given.mean(0, dtype=torch.float64)
    c_ND = given - mu_D
    # torch (MKL) only: mixing in numpy/scipy BLAS calls makes the two thread pools fight over the cores
    return mu_D, (c_ND.T @ c_ND) / (c_ND.shape[0] - 1)


def frechet_distance_from_stats(
    mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor
) -> float:
    """||mu1 - mu2||^2 + Tr S1 + Tr S2 - 2 Tr sqrt(S1 S2), all in float64."""
    mu1, sigma1, mu2, sigma2 = (t.double() for t in (mu1, sigma1, mu2, sigma2))
    # eig(S1 S2) = eig(W^T S2 W) for any W with W W^T = S1: a symmetric PSD matrix, whose eigenvalues are far
    # cheaper than the general eigvals of S1 S2. W = Cholesky factor; a singular S1 (N <= D) takes
    # W = V L^1/2 from its eigen-decomposition instead. Tiny negative eigenvalues from rounding count as 0, as
    # Re(sqrt(.)) does in the reference.
    W, info = torch.linalg.cholesky_ex(sigma1)
    if int(info) != 0:
        lam, V = torch.linalg.eigh(sigma1)
        W = V * lam.clamp_min(0).sqrt()
    eig = torch.linalg.eigvalsh(W.T @ sigma2 @ W)
    tr_sqrt = eig.clamp_min(0).sqrt().sum()
    fd = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * tr_sqrt
    return float(fd)


def frechet_distance(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two (N, D) feature sets (FD-RadDino on RadDino features).

    Equals torchmetrics' ``FrechetInceptionDistance`` fed the same features (to 1e-6 relative, tested).
    """
    r, f = _as_features(real, "real"), _as_features(fake, "fake")
    _check_pair(r, f)
    return frechet_distance_from_stats(*_gaussian_stats(r), *_gaussian_stats(f))


# --------------------------------------------------------------------------------------------- KD


def _poly_kernel_sum(x: torch.Tensor, y: torch.Tensor | None, gamma: float, coef: float, degree: int) -> float:
    """Sum of (x.y * gamma + coef)^degree over all pairs; for y None, over the off-diagonal pairs of x."""
    total = torch.zeros((), dtype=torch.float64)
    if y is not None:
        for rows in _blocks(x.shape[0]):
            total += ((x[rows] @ y.T) * gamma + coef).pow(degree).sum()
        return float(total)
    n = x.shape[0]
    for i, bi in enumerate(_blocks(n)):
        for j, bj in enumerate(_blocks(n)):
            if j < i:
                continue  # symmetric: the (j, i) block equals the (i, j) block transposed
            k = ((x[bi] @ x[bj].T) * gamma + coef).pow(degree)
            if i == j:
                total += k.sum() - k.diagonal().sum()
            else:
                total += 2 * k.sum()
    return float(total)


def _mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, gamma: float, coef: float, degree: int) -> float:
    m = x.shape[0]
    assert y.shape[0] == m, "the torchmetrics estimator uses equal subset sizes"
    kxx = _poly_kernel_sum(x, None, gamma, coef, degree)
    kyy = _poly_kernel_sum(y, None, gamma, coef, degree)
    kxy = _poly_kernel_sum(x, y, gamma, coef, degree)
    return (kxx + kyy) / (m * (m - 1)) - 2 * kxy / m**2


def kernel_distance_subsets(
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    num_subsets: int = 100,
    subset_size: int | None = None,
    seed: int = 0,
    degree: int = 3,
    gamma: float | None = None,
    coef: float = 1.0,
) -> np.ndarray:
    """The unbiased polynomial-kernel MMD^2 of each subset pair, as torchmetrics' KID draws them.

    `subset_size` None means ``min(n_real, n_fake)`` (CheXGenBench's choice). When that covers both sets
    entirely, all subsets are the same set and the value is computed once and repeated.
    """
    r, f = _as_features(real, "real").double(), _as_features(fake, "fake").double()
    _check_pair(r, f)
    n_r, n_f = r.shape[0], f.shape[0]
    size = min(n_r, n_f) if subset_size is None else int(subset_size)
    if not 2 <= size <= min(n_r, n_f):
        raise ValueError(
            f"subset_size={subset_size} must be between 2 and min(n_real, n_fake) = {min(n_r, n_f)}; "
            "use None for the smaller set size"
        )
    if num_subsets < 1:
        raise ValueError(f"num_subsets={num_subsets} must be at least 1")
    g = 1.0 / r.shape[1] if gamma is None else float(gamma)
    if size == n_r == n_f:
        return np.full(num_subsets, _mmd2_unbiased(r, f, g, coef, degree))
    gen = torch.Generator().manual_seed(int(seed))
    values = []
    for _ in range(num_subsets):
        pr = torch.randperm(n_r, generator=gen)[:size]
        pf = torch.randperm(n_f, generator=gen)[:size]
        values.append(_mmd2_unbiased(r[pr], f[pf], g, coef, degree))
    return np.asarray(values)


def kernel_distance(
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    num_subsets: int = 100,
    subset_size: int | None = None,
    seed: int = 0,
) -> float:
    """KD: the mean over subsets of the unbiased MMD^2 with the kernel (x.y/D + 1)^3 (what the paper reports).

    Equals torchmetrics' ``KernelInceptionDistance(subsets=num_subsets, subset_size=...)``'s mean; with
    ``subset_size`` None (= the smaller set) and sets of equal size it is computed once, not 100 times.
    No x1000 scaling.
    """
    return float(kernel_distance_subsets(real, fake, num_subsets, subset_size, seed).mean())


# ------------------------------------------------------------------------------------------- PRDC
# sklearn computes a distance as sqrt(cast(-2 a.b + |a|^2 + |b|^2)) with the products in float64 and the cast
# and square root in the input dtype. The blocks below stop before the square root: since the correctly
# rounded sqrt is monotone, "sqrt(q) < r" equals "q < q*(r)" for the smallest q*(r) with sqrt(q*) >= r, so
# comparing squared values against q*(radius) gives exactly prdc's decisions without a square root per pair.


def _augment(x64: torch.Tensor, xx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(left, right) with left_i . right_j = -2 x_i.y_j + |x_i|^2 + |y_j|^2: one GEMM forms a squared distance."""
    ones = torch.ones_like(xx)[:, None]
    return torch.cat([x64, xx[:, None], ones], 1), torch.cat([-2 * x64, ones, xx[:, None]], 1)


def _squared_block(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """float64 squared distances as sklearn forms them (-2 a.b + |a|^2 + |b|^2), before its cast, clip and sqrt.

    The sum order differs from sklearn's, which changes the float64 value by ~1e-16 relative: the cast to the
    input dtype then gives sklearn's value except with negligible probability (the tests compare with prdc).
    """
    return left @ right.T


def _sqrt(q: torch.Tensor) -> torch.Tensor:
    """sklearn's distance from a squared value: clip at 0, correctly rounded square root.

    numpy's sqrt is correctly rounded; torch's vectorised float32 sqrt differs in the last bit for ~8% of
    values, which would flip strict "<" comparisons against the radii.
    """
    out = q.clamp_min(0).numpy().copy()
    np.sqrt(out, out=out)
    return torch.from_numpy(out)


def _sqrt_thresholds(radius: torch.Tensor) -> torch.Tensor:
    """q*(r) per radius: for every q of the dtype, sqrt(max(q, 0)) < r  <=>  q < q*(r)."""
    r = radius.numpy()
    dt = r.dtype.type
    q = (r.astype(np.float64) ** 2).astype(r.dtype)
    positive = r > 0
    for _ in range(64):  # a few ulps away at most; the bound only guards against a logic error
        below = np.nextafter(q, dt(-np.inf))
        down = positive & (np.sqrt(np.maximum(below, 0)) >= r)  # q is not yet the smallest with sqrt >= r
        up = positive & (np.sqrt(np.maximum(q, 0)) < r)  # q is too small
        if not (down.any() or up.any()):
            break
        q = np.where(down, below, np.where(up, np.nextafter(q, dt(np.inf)), q))
    else:  # pragma: no cover
        raise AssertionError("square-root thresholds did not converge")
    q = np.where(positive, q, dt(-np.inf))  # nothing is closer than a zero radius
    return torch.from_numpy(q)


def _kth_neighbour_radii(left: torch.Tensor, right: torch.Tensor, k: int, dtype: torch.dtype) -> torch.Tensor:
    """Distance of each row to its k-th nearest other row (the (k+1)-th smallest, self = 0 included)."""
    n = left.shape[0]
    if n < k + 1:
        raise ValueError(f"PRDC with k={k} needs more than {k} samples per set, got {n}")
    best = torch.full((n, k + 1), float("inf"), dtype=torch.float64)  # the k+1 smallest squared values so far

    def merge(rows: slice, q: torch.Tensor) -> None:
        cand = torch.cat([best[rows], q.topk(min(k + 1, q.shape[1]), dim=1, largest=False).values], dim=1)
        best[rows] = cand.topk(k + 1, dim=1, largest=False).values

    blocks = list(_blocks(n))
    for i, bi in enumerate(blocks):
        for j, bj in enumerate(blocks):
            if j < i:
                continue  # symmetric: the (j, i) block is the (i, j) block transposed
            q = _squared_block(left[bi], right[bj])
            if i == j:
                q.fill_diagonal_(0)  # sklearn zeroes the diagonal of a self-distance matrix
            merge(bi, q)
            if i != j:
                merge(bj, q.T)
    # the cast to the input dtype and sqrt are monotone, so the (k+1)-th smallest distance is the root of the
    # cast (k+1)-th smallest square
    return _sqrt(best.max(dim=1).values.to(dtype))


def prdc(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage (Naeem et al. 2020) with k nearest neighbours.

    Equals ``prdc.compute_prdc(real, fake, nearest_k=k)`` (prdc 0.2): Euclidean distances as sklearn computes
    them for the input dtype, radius = distance to the k-th neighbour excluding self, strict "<" everywhere.
    Works block by block: no N x N matrix is ever held.
    """
    r, f = _as_features(real, "real"), _as_features(fake, "fake")
    _check_pair(r, f)
    if k < 1:
        raise ValueError(f"k={k} must be at least 1")
    dtype = torch.float32 if (r.dtype == torch.float32 and f.dtype == torch.float32) else torch.float64
    r64, f64 = r.double(), f.double()
    r_left, r_right = _augment(r64, (r64 * r64).sum(1))
    f_left, f_right = _augment(f64, (f64 * f64).sum(1))
    q_real = _sqrt_thresholds(_kth_neighbour_radii(r_left, r_right, k, dtype))  # inside ball i <=> q < q_real[i]
    q_fake = _sqrt_thresholds(_kth_neighbour_radii(f_left, f_right, k, dtype))

    n_r, n_f = r.shape[0], f.shape[0]
    inside_real_balls = torch.zeros(n_f, dtype=torch.int64)  # per fake: how many real balls contain it
    real_in_fake_ball = torch.zeros(n_r, dtype=torch.bool)  # per real: inside some fake ball
    covered = torch.zeros(n_r, dtype=torch.bool)  # per real: its nearest fake lies inside its own ball
    for rows in _blocks(n_r):
        q = _squared_block(r_left[rows], f_right).to(dtype)
        inside = q < q_real[rows, None]
        inside_real_balls += inside.sum(0)
        covered[rows] = inside.any(1)  # min_j d_ij < r_i  <=>  some d_ij < r_i
        real_in_fake_ball[rows] = (q < q_fake[None, :]).any(1)
    counts = inside_real_balls.numpy()
    # the reductions in numpy and in prdc's order, so that the floats are the same to the last bit
    return {
        "precision": float((counts > 0).mean()),
        "recall": float(real_in_fake_ball.numpy().mean()),
        "density": float((1.0 / float(k)) * counts.mean()),
        "coverage": float(covered.numpy().mean()),
    }
