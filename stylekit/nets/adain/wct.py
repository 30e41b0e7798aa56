"""The whitening and colouring transform (Li et al. 2017, "Universal Style Transfer via Feature
Transforms"): content features whose mean and full channel covariance become the style's.

AdaIN matches each channel's mean and spread alone; this matches how the channels vary
together too, which is what a Gram matrix (the style loss, the style distance) measures.
Whitening removes the content features' own correlations (their covariance becomes the
identity) while keeping their spatial arrangement; colouring then gives them the style's
covariance and mean. Histogram matching (`matched_histograms`) then gives them the style's whole
distribution along each of its principal directions, not its spread alone: a painting's
features are sparse and heavy-tailed where a coloured photo's are closer to Gaussian.
"""
from __future__ import annotations

import torch

from stylekit.nets.adain.shipped import HISTOGRAM_BINS, HISTOGRAM_RANKS, grid_step

# Eigenvalues below this fraction of the largest are dropped: whitening would divide by their
# square roots, and in directions where a photo's features hardly vary that only amplifies noise.
RELATIVE_EIGEN_FLOOR = 1e-5


def positions(feat: torch.Tensor) -> torch.Tensor:
    """One image's features (1, C, H, W) as a (H*W, C) matrix: a view of channels-last features
    (the encoder's layout), so neither the statistics nor the map copy them to another layout."""
    return feat[0].permute(1, 2, 0).reshape(-1, feat.shape[1])


def moments(feat: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (C, 1) and covariance (C, C), float64, of one image's features (1, C, H, W) over
    the positions of a grid (`shipped.grid_step`), or weighted by a soft mask (1, 1, H, W)
    over every position (a region a pixel wide would fall between the grid's rows). The sums
    over the positions run in float32 on centred features: float64 copies of relu1_1 would cost
    a tenth of a second, while float32's pairwise sums keep the mean within 1e-7 of float64's
    and centring keeps the products accurate."""
    if feat.shape[0] != 1:
        raise ValueError(f"moments takes one image's features, not a batch of {feat.shape[0]}")
    step = grid_step(*feat.shape[-2:]) if mask is None else 1
    if step > 1:
        feat = feat[..., ::step, ::step]
    x = positions(feat).float()
    if mask is None:
        mean = x.mean(0, keepdim=True)
        centred = x - mean
        return mean.T.double(), (centred.T @ centred).double() / x.shape[0]
    m = mask.reshape(-1, 1).float()
    mass = m.sum().clamp_min(1e-8)
    mean = (x * m).sum(0, keepdim=True) / mass
    centred = x - mean
    return mean.T.double(), ((centred * m).T @ centred).double() / mass.double()


def _powers(cov: torch.Tensor, ridge: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cov^(1/2) and (cov + ridge * max eigenvalue * I)^(-1/2) of a symmetric positive
    semi-definite matrix, over the eigenvalues above RELATIVE_EIGEN_FLOOR of the largest (the
    others count as 0). With a ridge, the directions where the features vary weakly are
    whitened only in part, so colouring gives them less than the painting's variance instead of
    writing the painting's strongest variations onto the photo's faintest (mostly noise)."""
    values, vectors = torch.linalg.eigh(cov)
    largest = values.max().clamp_min(1e-30)
    keep = values > largest * RELATIVE_EIGEN_FLOOR
    root = torch.where(keep, values.clamp_min(0).sqrt(), torch.zeros_like(values))
    inverse = torch.where(keep, 1 / (values.clamp_min(0) + ridge * largest).sqrt().clamp_min(1e-30),
                          torch.zeros_like(values))
    return (vectors * root) @ vectors.T, (vectors * inverse) @ vectors.T


def style_moments(style_feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The style's mean and cov^(1/2): what colouring needs."""
    mean, cov = moments(style_feat)
    return mean, _powers(cov)[0]


def colour_map(content_feat: torch.Tensor, style_feat: torch.Tensor, mask: torch.Tensor | None = None,
               ridge: float = 0.0, style_stats: tuple | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Whitening then colouring as one affine map of the content features, y = T x + b:
    (T (C, C), b (C, 1)), float64, computed with autocast off (but the products over positions,
    see `moments`): eigenvectors of a 512x512 covariance in bf16 would be noise. mask: a soft
    mask (1, 1, H, W); the content's moments are then taken inside it. ridge: see `_powers`;
    0 gives the content exactly the style's covariance. style_stats: `style_moments(style_feat)`
    where the caller keeps them (a painting seen before)."""
    with torch.autocast(content_feat.device.type, enabled=False):
        c_mean, c_cov = moments(content_feat, mask)
        s_mean, s_root = style_stats or style_moments(style_feat)
        transform = s_root @ _powers(c_cov, ridge)[1]
        return transform, s_mean - transform @ c_mean


def apply_map(content_feat: torch.Tensor, transform: torch.Tensor, bias: torch.Tensor,
              alpha: float = 1.0) -> torch.Tensor:
    """(1 - alpha) x + alpha (T x + b) over the features (1, C, H, W), in one pass (the mix with
    the content is an affine map too), in the features' precision: bf16 features give bf16
    (products summed in fp32), as the decoder's convolutions would round them anyway; channels
    last, as the decoder reads them."""
    with torch.autocast(content_feat.device.type, enabled=False):
        if alpha != 1:
            eye = torch.eye(len(transform), dtype=transform.dtype, device=transform.device)
            transform, bias = alpha * transform + (1 - alpha) * eye, alpha * bias
        dtype = torch.bfloat16 if content_feat.dtype == torch.bfloat16 else torch.float32
        x = positions(content_feat).to(dtype)
        out = torch.addmm(bias.T.to(dtype), x, transform.T.to(dtype))
        _, c, h, w = content_feat.shape
        return out.reshape(1, h, w, c).permute(0, 3, 1, 2)


def whiten_colour(content_feat: torch.Tensor, style_feat: torch.Tensor, mask: torch.Tensor | None = None,
                  alpha: float = 1.0, ridge: float = 0.0, style_stats: tuple | None = None) -> torch.Tensor:
    """Content features (1, C, H, W) with the mean and covariance of `style_feat` (1, C, h, w),
    mixed with the content by alpha. mask: the content's moments are taken inside it, so that
    region alone is given the style's (the caller blends by the mask). ridge, style_stats: see
    `_powers`, `colour_map`."""
    return apply_map(content_feat, *colour_map(content_feat, style_feat, mask, ridge, style_stats), alpha=alpha)


def _binned(along: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each row of `along` (C, n) counted in HISTOGRAM_BINS equal bins from its least to its
    greatest value: each value's bin (C, n) and place in it (0-1), the fraction of the row below
    each bin edge (C, bins + 1), and which rows vary at all (C, 1)."""
    c, n = along.shape
    low, high = along.amin(1, keepdim=True), along.amax(1, keepdim=True)
    varies = high > low
    scale = torch.where(varies, HISTOGRAM_BINS / (high - low).clamp_min(1e-30), torch.zeros_like(low))
    where = (along - low) * scale
    bins = where.long().clamp_(0, HISTOGRAM_BINS - 1)
    counts = torch.zeros(c, HISTOGRAM_BINS, dtype=torch.float64).scatter_add_(
        1, bins, torch.ones(1, 1, dtype=torch.float64).expand(c, n))
    below = torch.cat([torch.zeros(c, 1, dtype=torch.float64), counts.cumsum(1) / n], 1)
    return bins, where - bins, below, varies


def at_ranks(table: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
    """A table of values at HISTOGRAM_RANKS evenly spaced ranks (C, Q) read at `ranks` (C, m),
    fractions of the row from 0 to 1, by linear interpolation; rank k of Q sits at (k + 0.5) / Q."""
    q = table.shape[1]
    where = (ranks * q - 0.5).clamp(0, q - 1)
    low = where.long().clamp_max(max(q - 2, 0))
    high = (low + 1).clamp_max(q - 1)
    return torch.lerp(table.gather(1, low), table.gather(1, high), (where - low).to(table.dtype))


def style_histograms(style_feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What histogram matching needs of a style's features (1, C, h, w): the principal
    directions of their covariance (C, C), and the values along each at HISTOGRAM_RANKS evenly
    spaced ranks (C, HISTOGRAM_RANKS), over `moments`' grid, read from the binned counts;
    float32."""
    with torch.autocast(style_feat.device.type, enabled=False):
        _, cov = moments(style_feat)
        directions = torch.linalg.eigh(cov)[1].float()
        step = grid_step(*style_feat.shape[-2:])
        along = (positions(style_feat[..., ::step, ::step]).float() @ directions).T.contiguous()
        _, _, below, _ = _binned(along)
        ranks = ((torch.arange(HISTOGRAM_RANKS, dtype=torch.float64) + 0.5) / HISTOGRAM_RANKS).expand(len(along), -1)
        edge = (torch.searchsorted(below, ranks.contiguous(), right=True) - 1).clamp(0, HISTOGRAM_BINS - 1)
        start, end = below.gather(1, edge), below.gather(1, edge + 1)
        inside = ((ranks - start) / (end - start).clamp_min(1e-30)).clamp(0, 1)
        low, high = along.amin(1, keepdim=True).double(), along.amax(1, keepdim=True).double()
        return directions, (low + (edge + inside) * (high - low) / HISTOGRAM_BINS).float()


def matched_histograms(feat: torch.Tensor, histograms: list[tuple[torch.Tensor, torch.Tensor]],
                       weights: list[float]) -> torch.Tensor:
    """Features (1, C, H, W) whose values along each style's principal directions take the
    style's values at their ranks (`style_histograms`): histogram matching in the basis where
    the style's channels are uncorrelated, so the covariance whitening and colouring gave stays
    close. Ranks come from binned counts, linear inside a bin; a direction the features do not
    vary along keeps its value. Several styles: the matched features blended by `weights`, which
    sum to 1. fp32, channels last, as `apply_map`."""
    with torch.autocast(feat.device.type, enabled=False):
        x = positions(feat).float()
        out = x.clone()
        for weight, (directions, table) in zip(weights, histograms):
            if weight:
                along = (x @ directions).T.contiguous()
                bins, inside, below, varies = _binned(along)
                edges = at_ranks(table, below)
                moved = torch.lerp(edges.gather(1, bins), edges.gather(1, bins + 1), inside).sub_(along)
                out.addmm_(torch.where(varies, moved, 0).T, directions.T, alpha=weight)
        _, c, h, w = feat.shape
        return out.reshape(1, h, w, c).permute(0, 3, 1, 2)
