"""Distances between feature sets: FD, KD and PRDC, equal to the references the paper used, but faster.

The references (CheXGenBench, UniX) are torchmetrics' ``FrechetInceptionDistance`` and
``KernelInceptionDistance`` fed RadDino features, and ``prdc==0.2``. The functions here take the same
(N, D) feature arrays and return the same numbers (the tests hold them to it), computed differently:

* FD: float64 as torchmetrics, but Tr sqrt(S_r S_f) from the symmetric eigenvalues of L^T S_f L
  (S_r = L L^T, Cholesky) instead of the general ``eigvals`` of the non-symmetric product S_r S_f; the
  covariances are centred into one reused buffer and multiplied only on and above the diagonal (in strips).
  float32 Grams were not used: their accumulation error (up to N u relative per entry, u = 2^-24) can exceed
  the 1e-6 agreement once the FD is small against the traces.
* KD: when the subset size is the whole of both sets (the paper's case: ``subset_size = min(n_real, n_fake)``
  with equal sizes), every one of the 100 subsets is a permutation of the same set and the unbiased MMD^2 is
  permutation invariant, so it is computed once, in float64, using the symmetry of the kernel matrices.
  Otherwise the subsets are drawn exactly as torchmetrics does (``torch.randperm`` from a generator
  seeded with ``seed``), so the same seed gives the same subsets.
* PRDC: the same decisions as prdc, whose distances are sklearn's ``pairwise_distances`` (float64 products,
  cast to the input dtype, then the square root). Every squared distance is first formed by a float32 GEMM
  on centred features (1024-row blocks: no N x N matrix is ever alive; the real-real and fake-fake blocks only
  on and above the diagonal); a rigorous bound on its error against sklearn's float64 value (see ``_Screen``)
  settles every pair that is provably on one side of a radius, and only the pairs within that bound of a
  radius, and the candidates for each k-th neighbour, are recomputed exactly in float64. The comparisons run
  on squared values against exact square-root thresholds (no square root per pair). ``screen=False`` (and a
  reduced-precision float32 matmul setting) uses float64 products for every pair instead.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

_BLOCK = 1024
_FD_STRIPS = 6  # row strips of the covariance; more strips: less work, smaller (less efficient) GEMMs


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


def _gaussian_stats(given: torch.Tensor, buffer: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`buffer`: optional float64 (D, >= N) scratch for the centred copy (transposed, so row strips are contiguous).

    Reusing one buffer for both sets matters: a fresh 4,352 x 768 float64 tensor costs ~10 ms of page faults.
    """
    n, d = given.shape
    mu_D = given.mean(0, dtype=torch.float64)
    if buffer is None:
        buffer = torch.empty((d, n), dtype=torch.float64)
    c_DN = torch.sub(given.T, mu_D[:, None], out=buffer[:, :n])  # float64 (type promotion); input untouched
    # C^T C is symmetric: only the strips on and above the diagonal are multiplied (58% of a full GEMM's work
    # for 6 strips), the rest is their transpose. Each entry is still one float64 dot product over the N rows.
    cov_DD = torch.empty((d, d), dtype=torch.float64)
    for rows in _blocks(d, -(-d // _FD_STRIPS)):
        strip = c_DN[rows] @ c_DN[rows.start :].T
        cov_DD[rows, rows.start :] = strip
        cov_DD[rows.stop :, rows] = strip[:, rows.stop - rows.start :].T
    return mu_D, cov_DD / (n - 1)


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
    # numpy's (OpenBLAS) LAPACK takes ~45 ms for the 768 x 768 eigenvalues where torch's takes ~160 ms
    eig = torch.from_numpy(np.linalg.eigvalsh((W.T @ sigma2 @ W).numpy()))
    tr_sqrt = eig.clamp_min(0).sqrt().sum()
    fd = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * tr_sqrt
    return float(fd)


def frechet_distance(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two (N, D) feature sets (FD-RadDino on RadDino features).

    Equals torchmetrics' ``FrechetInceptionDistance`` fed the same features (to 1e-6 relative, tested).
    """
    r, f = _as_features(real, "real"), _as_features(fake, "fake")
    _check_pair(r, f)
    buffer = torch.empty((r.shape[1], max(r.shape[0], f.shape[0])), dtype=torch.float64)
    return frechet_distance_from_stats(*_gaussian_stats(r, buffer), *_gaussian_stats(f, buffer))


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


# --- float32 screening -------------------------------------------------------------------------------------
# Every squared distance is first formed by one float32 GEMM on centred features augmented with their squared
# norms; a rigorous bound E on |float32 value - sklearn's float64 value| decides every pair whose float64 value
# is provably on one side of a threshold, and only the pairs within E of a threshold (and the few candidates
# for each k-th neighbour) are recomputed exactly in float64, in sklearn's order. The decisions are therefore
# exactly those of the float64 path, at the cost of float32 GEMMs.
_U32 = 2.0**-24  # unit roundoff of float32 / float64
_U64 = 2.0**-53
_EXTRA = 4  # neighbour candidates kept beyond k+1 per row; a row whose window needs more is recomputed exactly


class _Screen:
    """One feature set prepared for screening: float32 GEMM operands, exact float64 data and error scales.

    For rows a (of this set) and b (of `other`), with q64 sklearn's float64 value -2 a.b + |a|^2 + |b|^2 and q32
    the float32 GEMM of ``left_a . other.right_b``:
        |q32 - q64| <= a32 (nc_a + nc_b) + a64 (n_a + n_b)
    nc = squared norm of the float32 centred row, n = of the uncentred row. Derivation (u = 2^-24, D = width):
    the GEMM over D + 2 terms errs by at most gamma_{D+2} sum|l_k r_k| <= gamma_{D+2} (2 + 2u)(nc_a + nc_b)
    (Cauchy-Schwarz, 2|a||b| <= |a|^2 + |b|^2); rounding the norms to float32 adds u (nc_a + nc_b); centring
    (float64 subtract, then rounding to float32, relative 1.01u per component) moves |a - b|^2 by at most
    4.1u (nc_a + nc_b); sklearn's own float64 rounding is at most (2D + 6) 2^-53 (n_a + n_b). a32 and a64 are
    twice these sums (a margin for the second-order terms).
    """

    def __init__(self, x: torch.Tensor, mu: torch.Tensor) -> None:
        d = x.shape[1]
        self.x64 = x.double()
        self.n = (self.x64 * self.x64).sum(1)  # sklearn's row_norms(squared=True), float64
        c32 = (self.x64 - mu).float()
        nc64 = c32.double().square().sum(1)
        nc32 = nc64.float()
        ones = torch.ones_like(nc32)[:, None]
        self.left = torch.cat([c32, nc32[:, None], ones], 1)
        self.right = torch.cat([-2 * c32, ones, nc32[:, None]], 1)  # -2 c is exact in float32
        self.nc = nc64 * (1 + 1e-6)  # covers the float64 rounding of nc itself
        self.a32 = 2 * (2 * (d + 2) * (1 + 1e-3) + 2 + 1 + 4.1) * _U32
        self.a64 = 2 * (2 * d + 6) * _U64

    def row_bound(self, other: "_Screen") -> torch.Tensor:
        """Per row a: a bound on |q32 - q64| valid against every row b of `other`."""
        return self.a32 * (self.nc + other.nc.max()) + self.a64 * (self.n + other.n.max())

    def exact(self, rows: torch.Tensor, other: "_Screen", cols: torch.Tensor) -> torch.Tensor:
        """sklearn's float64 values for the pairs (rows[p], cols[p]): -2 a.b, + |a|^2, + |b|^2, in that order."""
        out = torch.empty(rows.shape, dtype=torch.float64)
        flat_r, flat_c, flat_o = rows.reshape(-1), cols.reshape(-1), out.view(-1)
        for part in _blocks(flat_r.shape[0], 256):  # small parts: large temporaries cost page faults
            dots = torch.linalg.vecdot(self.x64[flat_r[part]], other.x64[flat_c[part]])
            flat_o[part] = (-2 * dots + self.n[flat_r[part]]) + other.n[flat_c[part]]
        return out


def _round32(v: torch.Tensor, toward: float) -> torch.Tensor:
    """float64 -> float32, rounded toward -inf or +inf (so a float32 comparison keeps the float64 guarantee)."""
    r = v.float()
    off = (r.double() > v) if toward < 0 else (r.double() < v)
    return torch.where(off, torch.nextafter(r, torch.tensor(toward, dtype=torch.float32)), r)


def _screen_bands(q_star: torch.Tensor, bound: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 (lo, hi): q32 <= lo proves "inside" (cast q64 < q_star), q32 >= hi proves "outside"."""
    q64 = q_star.double()
    below = torch.nextafter(q_star, torch.tensor(float("-inf"), dtype=q_star.dtype)).double()
    lo, hi = _round32(below - bound, float("-inf")), _round32(q64 + bound, float("inf"))
    none = torch.isneginf(q64)  # a zero radius: nothing is inside
    return lo.masked_fill(none, float("-inf")), hi.masked_fill(none, float("-inf"))


def _screened_radii(s: _Screen, k: int, dtype: torch.dtype) -> torch.Tensor:
    """_kth_neighbour_radii through float32 screening; the same values."""
    n = s.left.shape[0]
    if n < k + 1:
        raise ValueError(f"PRDC with k={k} needs more than {k} samples per set, got {n}")
    m = min(n, k + 1 + _EXTRA)
    best_v = torch.full((n, m), float("inf"))
    best_i = torch.zeros((n, m), dtype=torch.int64)

    def merge(rows: slice, q: torch.Tensor, offset: int) -> None:
        v, i = q.topk(min(m, q.shape[1]), dim=1, largest=False)
        cv, ci = torch.cat([best_v[rows], v], 1), torch.cat([best_i[rows], i + offset], 1)
        v, pos = cv.topk(m, dim=1, largest=False)
        best_v[rows], best_i[rows] = v, ci.gather(1, pos)

    blocks = list(_blocks(n))
    for i, bi in enumerate(blocks):
        for j, bj in enumerate(blocks):
            if j < i:
                continue  # symmetric: the (j, i) block is the (i, j) block transposed
            q = s.left[bi] @ s.right[bj].T
            if i == j:
                q.fill_diagonal_(float("-inf"))  # self always kept; its value (0) is set exactly below
            merge(bi, q, bj.start)
            if i != j:
                merge(bj, q.T.contiguous(), bi.start)  # a strided topk is twice as slow as the copy
    self_ = best_i == torch.arange(n)[:, None]
    vals = best_v.masked_fill(self_, 0).double()  # self: exactly 0 (sklearn zeroes the diagonal)
    # T, the true (k+1)-th smallest, lies in [t - E, t + E] (t: the screened one): a value below t - 2E is
    # surely below T, one above t + 2E surely above; only those in between are recomputed exactly
    t = vals.sort(1).values[:, k : k + 1]
    bound = s.row_bound(s)[:, None]
    complete = (m == n) | (best_v[:, -1:].double() > t + 2 * bound).flatten()
    sure = vals < t - 2 * bound
    unsure = ~sure & (vals <= t + 2 * bound)
    q = torch.full((n, m), float("inf"), dtype=dtype).masked_fill_(sure, float("-inf"))
    i, j = unsure.nonzero(as_tuple=True)
    q[i, j] = s.exact(i, s, best_i[i, j]).masked_fill_(self_[i, j], 0).to(dtype)
    radius_sq = q.sort(1).values[:, k]  # the sure ones (fewer than k+1) sort first, the excluded last
    redo = (~complete).nonzero().flatten()
    for part in _blocks(redo.numel()):  # rare: more than m candidates in the window; these rows in full
        rows_ = redo[part]
        q = (-2 * (s.x64[rows_] @ s.x64.T) + s.n[rows_, None]) + s.n[None, :]  # sklearn's order
        q[torch.arange(rows_.numel()), rows_] = 0
        radius_sq[rows_] = q.to(dtype).kthvalue(k + 1, dim=1).values
    return _sqrt(radius_sq)


def _screened_prdc_counts(
    r: torch.Tensor, f: torch.Tensor, k: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(per fake: real balls holding it, per real: in some fake ball, per real: covered), exactly as prdc."""
    mu = r.mean(0, dtype=torch.float64)
    sr, sf = _Screen(r, mu), _Screen(f, mu)
    q_real = _sqrt_thresholds(_screened_radii(sr, k, dtype))  # inside ball i <=> cast q64 < q_real[i]
    q_fake = _sqrt_thresholds(_screened_radii(sf, k, dtype))
    lo_r, hi_r = _screen_bands(q_real, sr.row_bound(sf))
    lo_f, hi_f = _screen_bands(q_fake, sf.row_bound(sr))
    n_r, n_f = r.shape[0], f.shape[0]
    inside_real_balls = torch.zeros(n_f, dtype=torch.int64)
    real_in_fake_ball = torch.zeros(n_r, dtype=torch.bool)
    covered = torch.zeros(n_r, dtype=torch.bool)
    for rows in _blocks(n_r):
        q = sr.left[rows] @ sf.right.T
        # bool reductions are slow in torch; uint8 views summed into int32 and row minima are not
        lo, hi = lo_r[rows, None], hi_r[rows, None]
        sure = (q <= lo).view(torch.uint8)
        n_sure = sure.sum(1, dtype=torch.int32)
        inside_real_balls += sure.sum(0, dtype=torch.int32)
        covered[rows] = n_sure > 0  # min_j d_ij < r_i  <=>  some d_ij < r_i
        n_maybe = (q < hi).view(torch.uint8).sum(1, dtype=torch.int32)
        for i in (n_maybe > n_sure).nonzero().flatten().tolist():  # rows with a pair near their radius
            j = ((q[i] > lo[i]) & (q[i] < hi[i])).nonzero().flatten()
            gi = torch.full_like(j, rows.start + i)
            hit = j[sr.exact(gi, sf, j).to(dtype) < q_real[rows.start + i]]
            inside_real_balls[hit] += 1
            covered[rows.start + i] |= hit.numel() > 0
        # fake balls (column thresholds): recall
        lo, hi = lo_f[None, :], hi_f[None, :]
        in_fake = (q <= lo).view(torch.uint8).sum(1, dtype=torch.int32) > 0
        n_maybe = (q < hi).view(torch.uint8).sum(1, dtype=torch.int32)
        for i in ((n_maybe > 0) & ~in_fake).nonzero().flatten().tolist():
            j = ((q[i] > lo[0]) & (q[i] < hi[0])).nonzero().flatten()
            gi = torch.full_like(j, rows.start + i)
            in_fake[i] = bool((sr.exact(gi, sf, j).to(dtype) < q_fake[j]).any())
        real_in_fake_ball[rows] = in_fake
    return inside_real_balls, real_in_fake_ball, covered


def _screening_is_exact() -> bool:
    """The float32 bound assumes true float32 GEMMs (no reduced-precision matmul mode)."""
    return torch.get_float32_matmul_precision() == "highest"


def prdc(
    real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = 5, screen: bool = True
) -> dict[str, float]:
    """Precision, recall, density and coverage (Naeem et al. 2020) with k nearest neighbours.

    Equals ``prdc.compute_prdc(real, fake, nearest_k=k)`` (prdc 0.2): Euclidean distances as sklearn computes
    them for the input dtype, radius = distance to the k-th neighbour excluding self, strict "<" everywhere.
    Works block by block: no N x N matrix is ever held. `screen` False skips the float32 screening (every
    pair in float64; the same values, slower), for comparison.
    """
    r, f = _as_features(real, "real"), _as_features(fake, "fake")
    _check_pair(r, f)
    if k < 1:
        raise ValueError(f"k={k} must be at least 1")
    dtype = torch.float32 if (r.dtype == torch.float32 and f.dtype == torch.float32) else torch.float64
    if screen and _screening_is_exact():
        inside_real_balls, real_in_fake_ball, covered = _screened_prdc_counts(r, f, k, dtype)
    else:
        inside_real_balls, real_in_fake_ball, covered = _float64_prdc_counts(r, f, k, dtype)
    counts = inside_real_balls.numpy()
    # the reductions in numpy and in prdc's order, so that the floats are the same to the last bit
    return {
        "precision": float((counts > 0).mean()),
        "recall": float(real_in_fake_ball.numpy().mean()),
        "density": float((1.0 / float(k)) * counts.mean()),
        "coverage": float(covered.numpy().mean()),
    }


def _float64_prdc_counts(
    r: torch.Tensor, f: torch.Tensor, k: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The counts of _screened_prdc_counts, every pair in float64 (the reference path the screening must match)."""
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
    return inside_real_balls, real_in_fake_ball, covered
