"""The one-pass transforms in numpy, for the ONNX copies' pipeline (`portable`), which imports no
torch: WCT's moments, whitening and colouring and histogram matching (`wct`'s), AdaIN's channel statistics and map
(`model.adain`'s), and the unsharp mask before the finest level (`infer.sharpened`'s). The
arithmetic mirrors theirs (fp32 features, fp64 eigen-decompositions), so both pipelines give the
same picture to within a level of 255 over an fp32 encoder (tests/nets/test_wct_portable.py)."""
from __future__ import annotations

import numpy as np

from stylekit.nets.adain.shipped import HISTOGRAM_BINS, HISTOGRAM_RANKS, grid_step, sharpen_taps

# As `wct.RELATIVE_EIGEN_FLOOR` and `model.channel_stats`'s eps, which cannot be imported here
# (those modules import torch); tests/nets/test_wct_portable.py checks that they agree.
RELATIVE_EIGEN_FLOOR = 1e-5
ADAIN_EPS = 1e-5


def sharpened(picture: np.ndarray, amount: float) -> np.ndarray:
    """As `infer.sharpened`: picture + amount x (picture - its Gaussian blur), in [0, 1]."""
    taps = np.asarray(sharpen_taps(), np.float32)
    radius, (h, w) = len(taps) // 2, picture.shape[-2:]
    mode = "reflect" if min(h, w) > radius else "edge"
    padded = np.pad(picture, ((0, 0), (0, 0), (radius, radius), (radius, radius)), mode=mode)
    across = sum(t * padded[..., k:k + w] for k, t in enumerate(taps))
    blurred = sum(t * across[..., k:k + h, :] for k, t in enumerate(taps))
    return np.clip(picture + np.float32(amount) * (picture - blurred), 0, 1)


def moments(feat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (C, 1) and covariance (C, C), float64, of features (1, C, H, W) over the positions
    of `grid_step`'s grid: sums in float32 on centred features, as `wct.moments`."""
    step = grid_step(*feat.shape[-2:])
    x = feat[0, :, ::step, ::step].reshape(feat.shape[1], -1)
    mean = x.mean(1, keepdims=True, dtype=np.float32)
    centred = x - mean
    return mean.astype(np.float64), (centred @ centred.T).astype(np.float64) / x.shape[1]


def _powers(cov: np.ndarray, ridge: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """As `wct._powers`: cov^(1/2) and (cov + ridge * max eigenvalue * I)^(-1/2)."""
    values, vectors = np.linalg.eigh(cov)
    largest = max(values.max(), 1e-30)
    keep = values > largest * RELATIVE_EIGEN_FLOOR
    root = np.where(keep, np.sqrt(np.clip(values, 0, None)), 0.0)
    inverse = np.where(keep, 1 / np.maximum(np.sqrt(np.clip(values, 0, None) + ridge * largest), 1e-30), 0.0)
    return (vectors * root) @ vectors.T, (vectors * inverse) @ vectors.T


def style_moments(style_feat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What colouring needs of a style's features: their mean and cov^(1/2), float64."""
    mean, cov = moments(style_feat)
    return mean, _powers(cov)[0]


def whitening(content_feat: np.ndarray, ridge: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """What whitening needs of a photo's features: their mean and (cov + ridge x its largest
    eigenvalue x I)^(-1/2), float64."""
    mean, cov = moments(content_feat)
    return mean, _powers(cov, ridge)[1]


def transfer(content_feat: np.ndarray, styles: list[tuple[np.ndarray, np.ndarray]], weights: list[float],
             alpha: float, whitened: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The decoder's input: (1 - alpha) x + alpha (T x + b), T and b the maps to the styles'
    moments (`style_moments`, one pair per style) blended by `weights` (a blend of affine maps
    is one affine map); `whitened`: the content's `whitening`, when known. Overwrites
    `content_feat`: the features are centred where they lie and the map applied to them, its
    bias moved to match, which spares two copies of the largest arrays of the pass (relu1_1 at
    full size)."""
    c_mean, c_whiten = whitened if whitened is not None else whitening(content_feat)
    x = content_feat.reshape(content_feat.shape[1], -1)
    c_mean = c_mean.astype(np.float32)
    x -= c_mean
    transform, bias = np.zeros_like(c_whiten), np.zeros((len(c_whiten), 1))
    for weight, (s_mean, s_root) in zip(weights, styles):
        if weight:
            colour = s_root @ c_whiten
            transform += weight * colour
            bias += weight * (s_mean - colour @ c_mean)
    transform = alpha * transform + (1 - alpha) * np.eye(len(transform))
    bias = transform @ c_mean + alpha * bias   # T' (x - m) + T' m + alpha b, T' the mix
    y = transform.astype(np.float32) @ x
    y += bias.astype(np.float32)
    return y.reshape(content_feat.shape)


def _binned(along: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """As `wct._binned`: each row's values counted in HISTOGRAM_BINS equal bins over its range;
    (bins, place in the bin, fraction below each edge, which rows vary). In place where it can:
    for VGG-19's relu3_1 each temporary is 4.5 million values."""
    c, n = along.shape
    low, high = along.min(1, keepdims=True), along.max(1, keepdims=True)
    varies = high > low
    scale = np.where(varies, np.float32(HISTOGRAM_BINS) / np.maximum(high - low, np.float32(1e-30)),
                     np.float32(0)).astype(np.float32)
    where = along - low
    where *= scale
    bins = where.astype(np.int64)
    np.clip(bins, 0, HISTOGRAM_BINS - 1, out=bins)
    counts = np.bincount((bins + np.arange(c)[:, None] * HISTOGRAM_BINS).ravel(),
                         minlength=c * HISTOGRAM_BINS).reshape(c, HISTOGRAM_BINS)
    below = np.concatenate([np.zeros((c, 1)), np.cumsum(counts, axis=1) / n], axis=1)
    np.subtract(where, bins, out=where, casting="unsafe")
    return bins, where, below, varies


def at_ranks(table: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """As `wct.at_ranks`: a table (C, Q) read at `ranks` (C, m) from 0 to 1."""
    q = table.shape[1]
    where = np.clip(ranks * q - 0.5, 0, q - 1)
    low = np.minimum(where.astype(np.int64), max(q - 2, 0))
    high = np.minimum(low + 1, q - 1)
    start = np.take_along_axis(table, low, axis=1)
    return start + (where - low).astype(table.dtype) * (np.take_along_axis(table, high, axis=1) - start)


def style_histograms(style_feat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As `wct.style_histograms`: the principal directions of a style's features (C, C) and the
    values along each at HISTOGRAM_RANKS ranks (C, HISTOGRAM_RANKS), float32."""
    _, cov = moments(style_feat)
    directions = np.linalg.eigh(cov)[1].astype(np.float32)
    step = grid_step(*style_feat.shape[-2:])
    x = style_feat[0, :, ::step, ::step].reshape(style_feat.shape[1], -1)
    along = directions.T @ x
    _, _, below, _ = _binned(along)
    ranks = (np.arange(HISTOGRAM_RANKS, dtype=np.float64) + 0.5) / HISTOGRAM_RANKS
    edge = np.clip(np.stack([np.searchsorted(row, ranks, side="right") for row in below]) - 1, 0, HISTOGRAM_BINS - 1)
    start, end = np.take_along_axis(below, edge, axis=1), np.take_along_axis(below, edge + 1, axis=1)
    inside = np.clip((ranks - start) / np.maximum(end - start, 1e-30), 0, 1)
    low, high = along.min(1, keepdims=True).astype(np.float64), along.max(1, keepdims=True).astype(np.float64)
    return directions, (low + (edge + inside) * (high - low) / HISTOGRAM_BINS).astype(np.float32)


def matched_histograms(feat: np.ndarray, histograms: list[tuple[np.ndarray, np.ndarray]],
                       weights: list[float]) -> np.ndarray:
    """As `wct.matched_histograms`: features (1, C, H, W) given each style's values along its
    principal directions at their ranks, blended by `weights` (summing to 1); a new float32 array."""
    x = feat.reshape(feat.shape[1], -1)
    out = x.astype(np.float32, copy=True)
    for weight, (directions, table) in zip(weights, histograms):
        if weight:
            along = directions.T @ x
            bins, inside, below, varies = _binned(along)
            edges = at_ranks(table, below).ravel()
            bins += np.arange(len(along))[:, None] * (HISTOGRAM_BINS + 1)   # into the flat edges
            moved = edges.take(bins)
            inside *= edges.take(bins + 1) - moved
            moved += inside
            moved -= along
            moved *= varies
            moved *= np.float32(weight)
            out += directions @ moved
    return out.reshape(feat.shape)


def channel_stats(feat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation (C, 1) of features (1, C, H, W), float32, as
    `model.channel_stats`."""
    x = feat.reshape(feat.shape[1], -1)
    mean = x.mean(1, keepdims=True, dtype=np.float32)
    return mean, np.sqrt(x.var(1, keepdims=True, dtype=np.float32) + np.float32(ADAIN_EPS))


def adain(content_feat: np.ndarray, styles: list[tuple[np.ndarray, np.ndarray]], weights: list[float],
          alpha: float, content_stats: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """AdaIN's decoder input: each channel given the styles' mean and deviation (`channel_stats`,
    one pair per style), blended by `weights` and mixed with the content by alpha; one affine map per channel, as in
    `model.adain`; `content_stats`: the content's `channel_stats`, when known. Overwrites
    `content_feat`."""
    c_mean, c_std = channel_stats(content_feat) if content_stats is None else content_stats
    scale, shift = np.zeros_like(c_mean), np.zeros_like(c_mean)
    for weight, (s_mean, s_std) in zip(weights, styles):
        if weight:
            ratio = s_std / c_std
            scale += np.float32(weight) * ratio
            shift += np.float32(weight) * (s_mean - c_mean * ratio)
    scale, shift = np.float32(alpha) * scale + np.float32(1 - alpha), np.float32(alpha) * shift
    x = content_feat.reshape(content_feat.shape[1], -1)
    x *= scale
    x += shift
    return content_feat
