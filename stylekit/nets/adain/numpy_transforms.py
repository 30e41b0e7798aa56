"""The one-pass transforms in numpy, for the ONNX copies' pipeline (`portable`), which imports no
torch: WCT's moments, whitening and colouring (`wct`'s), AdaIN's channel statistics and map
(`model.adain`'s), and the unsharp mask before the finest level (`infer.sharpened`'s). The
arithmetic mirrors theirs (fp32 features, fp64 eigen-decompositions), so both pipelines give the
same picture to within a level of 255 over an fp32 encoder (tests/nets/test_wct_portable.py)."""
from __future__ import annotations

import numpy as np

from stylekit.nets.adain.shipped import grid_step, sharpen_taps

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
