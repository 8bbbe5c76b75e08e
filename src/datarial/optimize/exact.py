"""Exact Gaussian-process arithmetic in NumPy/SciPy for the engine's hot paths.

The surrogate is BoTorch's ``SingleTaskGP`` as datarial configures it: ARD
Matérn-5/2 (or RBF) kernel without an output scale, a dimension-scaled
lengthscale prior (:class:`LengthscalePrior`: Gamma by default, or the
log-normal of Hvarfner et al. (2024)), the LogNormal(-4, 1) noise prior of
the same paper, a constant mean, standardised outputs.  Two steps of every
proposal spent most of their time in per-call overhead of GPyTorch modules
rather than in arithmetic (for 50 points a marginal-likelihood evaluation is
a 50×50 Cholesky factorisation, and an L-BFGS fit needs dozens of them):

* :func:`fit_map` — the maximum-a-posteriori hyperparameters, with the same
  objective (exact marginal log likelihood plus log priors, divided by n),
  bounds and starting point as ``botorch.fit.fit_gpytorch_mll``, analytic
  gradients, and L-BFGS-B on log lengthscales and log noise;
* :class:`ExactGP` — posterior mean and variance, and the variance left after
  conditioning on pending points (the "Kriging believer" batch update), which
  the analytic acquisitions need.

The fitted values are loaded into the BoTorch model, which stays the model of
record (maps, diagnostics, ``qlognei``).  ``tests/test_exact_gp.py`` checks
objective, gradient, fit, posterior and batch picks against GPyTorch/BoTorch;
``benchmarks/propose_speed.py`` measures the gain.  All quantities here are in
*standardised* model units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_solve, solve_triangular
from scipy.optimize import minimize

SQRT2, SQRT3, SQRT5 = math.sqrt(2.0), math.sqrt(3.0), math.sqrt(5.0)
LENGTHSCALE_MIN = 2.5e-2  # BoTorch's lower bound for the dimension-scaled prior
NOISE_MIN = 1e-4  # BoTorch's MIN_INFERRED_NOISE_LEVEL
# Upper bounds keep the log-space line search finite (BoTorch has none): a
# lengthscale of 1e4 feature ranges already makes a parameter irrelevant, and
# the standardised targets have variance 1.
LENGTHSCALE_MAX, NOISE_MAX = 1e4, 1e2
NOISE_PRIOR = (-4.0, 1.0)  # LogNormal(loc, scale) of the noise variance
_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class LengthscalePrior:
    """Prior of each ARD lengthscale (in units of the [0, 1] features), scaled with the dimension.

    ``lognormal`` — LogNormal(√2 + ½ ln d, √3) of Hvarfner et al. (2024), BoTorch's
    default: mode 0.20·√d but a heavy upper tail (median 4.1·√d), so that a
    parameter the data say little about drifts to a long lengthscale and is
    treated as irrelevant.  ``gamma`` — Gamma(3, rate) with the same mode
    (BayBE 0.15's default): mean 0.31·√d, light tail, so that a parameter keeps
    a lengthscale near the mode until the data show it is smooth.
    """

    kind: str  # lognormal | gamma
    a: float  # lognormal: loc; gamma: concentration
    b: float  # lognormal: scale; gamma: rate

    @property
    def mode(self) -> float:
        return math.exp(self.a - self.b**2) if self.kind == "lognormal" else (self.a - 1.0) / self.b

    def logpdf(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log density at x and its derivative d/dx."""
        if self.kind == "lognormal":
            return _lognormal_logpdf(x, self.a, self.b)
        k, rate = self.a, self.b
        logp = k * math.log(rate) - math.lgamma(k) + (k - 1.0) * np.log(x) - rate * x
        return logp, (k - 1.0) / x - rate

    def sample_log(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Logarithms of ``size`` draws (restart points of the fit)."""
        if self.kind == "lognormal":
            return rng.normal(self.a, self.b, size)
        return np.log(rng.gamma(self.a, 1.0 / self.b, size))

    def gpytorch(self):
        """The same prior as a GPyTorch prior object."""
        from gpytorch.priors import GammaPrior, LogNormalPrior

        return LogNormalPrior(self.a, self.b) if self.kind == "lognormal" else GammaPrior(self.a, self.b)


def lengthscale_prior(dim: int, kind: str = "lognormal") -> LengthscalePrior:
    """The dimension-scaled lengthscale prior of ``kind`` for ``dim`` search parameters.

    The default here is BoTorch's (``lognormal``); the engine's is
    ``ModelSettings.lengthscale_prior`` (``gamma``).
    """
    loc, scale = SQRT2 + 0.5 * math.log(dim), SQRT3
    if kind == "lognormal":
        return LengthscalePrior("lognormal", loc, scale)
    if kind == "gamma":
        conc = 3.0
        return LengthscalePrior("gamma", conc, (conc - 1.0) / math.exp(loc - scale**2))  # mode = the log-normal's
    raise ValueError(f"unknown lengthscale prior {kind!r}")


def _lognormal_logpdf(x: np.ndarray, loc: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """log density of LogNormal(loc, scale) at x and its derivative d/dx."""
    lx = np.log(x)
    z = (lx - loc) / scale
    logp = -lx - math.log(scale) - 0.5 * _LOG_2PI - 0.5 * z * z
    return logp, (-1.0 - z / scale) / x


def kernel(A: np.ndarray, B: np.ndarray, lengthscale: np.ndarray, kind: str) -> np.ndarray:
    """Kernel matrix (m, k) between feature rows A (m, w) and B (k, w); k(x, x) = 1."""
    a, b = A / lengthscale, B / lengthscale
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    np.maximum(d2, 0.0, out=d2)
    if kind == "rbf":
        return np.exp(-0.5 * d2)
    r = np.sqrt(d2)
    return (1.0 + SQRT5 * r + (5.0 / 3.0) * d2) * np.exp(-SQRT5 * r)


def _cholesky(K: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor; adds growing jitter (as GPyTorch does) if K is not numerically PD."""
    jitter = 0.0
    for _ in range(4):
        try:
            return np.linalg.cholesky(K + jitter * np.eye(len(K)) if jitter else K)
        except np.linalg.LinAlgError:
            jitter = 1e-8 if jitter == 0.0 else jitter * 10.0
    raise np.linalg.LinAlgError("kernel matrix is not positive definite, even with jitter 1e-6")


@dataclass(frozen=True)
class Hyperparameters:
    """Fitted GP hyperparameters in standardised units."""

    lengthscale: np.ndarray  # (w,), in units of the [0, 1] features
    noise: float | None  # homoscedastic noise variance; None when the noise is given
    mean: float
    objective: float  # the minimised -(log marginal likelihood + log priors) / n


class _MapObjective:
    """-(log N(y | m, K + noise) + log priors) / n and its gradient, in BoTorch's parameterisation."""

    def __init__(self, X: np.ndarray, y: np.ndarray, kind: str, prior: LengthscalePrior,
                 noise: np.ndarray | None) -> None:
        self.X, self.y, self.kind, self.prior = X, y, kind, prior
        self.fixed_noise = noise
        self.n, self.w = X.shape
        # Squared differences per feature (n, n, w): the kernel depends on them only.
        self.D = (X[:, None, :] - X[None, :, :]) ** 2
        self.learn_noise = noise is None

    def split(self, theta: np.ndarray) -> tuple[np.ndarray, float | None, float]:
        ls = theta[: self.w]
        noise = float(theta[self.w]) if self.learn_noise else None
        return ls, noise, float(theta[-1])

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        ls, noise, mean = self.split(theta)
        d2 = self.D @ (1.0 / ls**2)
        if self.kind == "rbf":
            K = np.exp(-0.5 * d2)
            G = K  # dk/dl_d = G * D_d / l_d^3
        else:
            r = np.sqrt(d2)
            e = np.exp(-SQRT5 * r)
            K = (1.0 + SQRT5 * r + (5.0 / 3.0) * d2) * e
            G = (5.0 / 3.0) * (1.0 + SQRT5 * r) * e
        Kn = K.copy()
        Kn[np.diag_indices(self.n)] += noise if self.learn_noise else self.fixed_noise
        try:
            L = _cholesky(Kn)
        except np.linalg.LinAlgError:
            return float("inf"), np.zeros_like(theta)
        resid = self.y - mean
        alpha = cho_solve((L, True), resid)
        nll = 0.5 * resid @ alpha + np.log(np.diag(L)).sum() + 0.5 * self.n * _LOG_2PI
        W = np.outer(alpha, alpha) - cho_solve((L, True), np.eye(self.n))
        lp_ls, dlp_ls = self.prior.logpdf(ls)
        grad = np.empty_like(theta)
        grad[: self.w] = -0.5 * np.einsum("ij,ijd->d", W * G, self.D) / ls**3 - dlp_ls
        value = nll - lp_ls.sum()
        if self.learn_noise:
            lp_n, dlp_n = _lognormal_logpdf(np.array([noise]), *NOISE_PRIOR)
            value -= lp_n[0]
            grad[self.w] = -0.5 * np.trace(W) - dlp_n[0]
        grad[-1] = -alpha.sum()
        return float(value / self.n), grad / self.n


def fit_map(X: np.ndarray, y: np.ndarray, kind: str = "matern52", dim: int | None = None,
            noise: np.ndarray | None = None, attempts: int = 5, seed: int = 0,
            prior: str = "lognormal") -> Hyperparameters:
    """MAP hyperparameters of the GP on features ``X`` (n, w) and standardised ``y`` (n,).

    ``dim`` is the number of search parameters for the lengthscale prior (one-hot
    columns of a categorical parameter count once; default ``w``); ``prior`` the
    kind of :func:`lengthscale_prior` (default BoTorch's ``lognormal``; the
    engine passes ``ModelSettings.lengthscale_prior``).  ``noise``:
    given per-point noise variances (standardised units), else the noise is
    learned.  L-BFGS-B starts at the priors' modes, like BoTorch, but works on
    the logarithms of the lengthscales and the noise, which is better
    conditioned than BoTorch's raw parameters (the objective is the same
    function, so the MAP point is too; a test checks that the optimum found is
    at least as good as BoTorch's).  When it does not
    converge, it restarts from draws of the priors (up to ``attempts`` in all)
    and the best result is kept.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float).reshape(-1)
    n, w = X.shape
    prior = lengthscale_prior(dim or w, prior)
    obj = _MapObjective(X, y, kind, prior, None if noise is None else np.asarray(noise, float).reshape(-1))
    k = w + (1 if noise is None else 0)  # positive parameters, optimised as logarithms

    def log_objective(z: np.ndarray) -> tuple[float, np.ndarray]:
        theta = z.copy()
        theta[:k] = np.exp(z[:k])
        value, grad = obj(theta)
        grad[:k] *= theta[:k]
        return value, grad

    start = [*np.full(w, math.log(prior.mode)), *([NOISE_PRIOR[0] - NOISE_PRIOR[1] ** 2] if noise is None else []), 0.0]
    bounds = ([(math.log(LENGTHSCALE_MIN), math.log(LENGTHSCALE_MAX))] * w
              + ([(math.log(NOISE_MIN), math.log(NOISE_MAX))] if noise is None else []) + [(None, None)])
    rng = np.random.default_rng(seed)
    best = None
    z0 = np.array(start, dtype=float)
    for _attempt in range(max(1, attempts)):
        res = minimize(log_objective, z0, jac=True, method="L-BFGS-B", bounds=bounds)
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
        if res.success and np.isfinite(res.fun):
            break
        draws = [np.clip(prior.sample_log(rng, w), *bounds[0])]
        if noise is None:
            draws.append(np.clip(rng.normal(*NOISE_PRIOR, 1), *bounds[w]))
        z0 = np.concatenate([*draws, [0.0]])
    if best is None:
        raise np.linalg.LinAlgError("the marginal likelihood could not be evaluated at any starting point")
    theta = best.x.copy()
    theta[:k] = np.exp(theta[:k])
    ls, nz, mean = obj.split(theta)
    return Hyperparameters(lengthscale=ls.copy(), noise=nz, mean=mean, objective=float(best.fun))


class ExactGP:
    """Posterior of a zero-output-scale GP in standardised units, from fixed hyperparameters.

    X (n, w) training features, y (n,) standardised targets, noise (n,) their
    noise variances.  ``pending`` points (features) condition the covariance as
    fantasy observations with noise variances ``pending_noise``; the mean is
    unchanged by them (a believer fantasy sits at the posterior mean).
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, lengthscale: np.ndarray, noise: np.ndarray,
                 mean: float, kind: str) -> None:
        self.X = np.asarray(X, dtype=float)
        self.lengthscale = np.asarray(lengthscale, dtype=float).reshape(-1)
        self.mean, self.kind = float(mean), kind
        K = kernel(self.X, self.X, self.lengthscale, kind)
        K[np.diag_indices(len(K))] += np.asarray(noise, dtype=float).reshape(-1)
        self.L = _cholesky(K)
        self.alpha = cho_solve((self.L, True), np.asarray(y, dtype=float).reshape(-1) - self.mean)

    def k(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Prior covariance (standardised) between feature rows A and B."""
        return kernel(A, B, self.lengthscale, self.kind)

    def half(self, Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """k(X, Xq) and L⁻¹ k(X, Xq): the pieces of the posterior at Xq."""
        Kq = kernel(self.X, Xq, self.lengthscale, self.kind)
        return Kq, solve_triangular(self.L, Kq, lower=True, check_finite=False)

    def mean_var(self, Xq: np.ndarray, pending: PendingPoints | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and latent variance at feature rows Xq (m, w)."""
        Xq = np.atleast_2d(np.asarray(Xq, dtype=float))
        Kq, A = self.half(Xq)
        mu = self.mean + Kq.T @ self.alpha
        var = 1.0 - (A * A).sum(0)
        if pending is not None:
            S = kernel(Xq, pending.P, self.lengthscale, self.kind) - A.T @ pending.A
            B = solve_triangular(pending.L, S.T, lower=True, check_finite=False)
            var -= (B * B).sum(0)
        return mu, var

    def condition(self, P: np.ndarray, noise: np.ndarray) -> PendingPoints:
        """Pending feature rows P (p, w) with fantasy noise variances (p,), ready for :meth:`mean_var`."""
        P = np.atleast_2d(np.asarray(P, dtype=float))
        _, A = self.half(P)
        S = kernel(P, P, self.lengthscale, self.kind) - A.T @ A
        S[np.diag_indices(len(S))] += np.asarray(noise, dtype=float).reshape(-1)
        return PendingPoints(P=P, A=A, L=_cholesky(S))


@dataclass(frozen=True)
class PendingPoints:
    """Pending points conditioned into an :class:`ExactGP`'s covariance."""

    P: np.ndarray  # (p, w) features
    A: np.ndarray  # (n, p) L^-1 k(X, P)
    L: np.ndarray  # (p, p) Cholesky of the posterior covariance at P plus fantasy noise
