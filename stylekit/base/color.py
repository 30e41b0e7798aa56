"""Colour control around the transfer (Gatys et al. 2017, "Controlling Perceptual Factors in
Neural Style Transfer", section 5). Pure image transforms: the engine runs unchanged.

- luminance: transfer on luminance only, then put the content's chroma back (YIQ), so the
  output keeps the photo's colours. The style's luminance is first matched to the content's
  mean and spread, as the paper does, so the transfer does not shift the brightness.
- histogram: before the transfer, give the style image the content's colour mean and
  covariance (a linear map in RGB, via the symmetric matrix square roots).
"""
from __future__ import annotations

import torch

MODES = ("luminance", "histogram")

# RGB -> YIQ (NTSC 1953); the inverse is computed, not typed.
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114],
                            [0.595716, -0.274453, -0.321263],
                            [0.211456, -0.522591, 0.311135]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _apply(matrix: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(img), img)


def rgb_to_yiq(img: torch.Tensor) -> torch.Tensor:
    return _apply(_RGB_TO_YIQ, img)


def yiq_to_rgb(img: torch.Tensor) -> torch.Tensor:
    return _apply(_YIQ_TO_RGB, img)


def luminance(img: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) RGB -> (1, 3, H, W) grey image of its luminance."""
    return rgb_to_yiq(img)[:, :1].expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Grey luminance of `style`, shifted and scaled to the content luminance's mean and std."""
    ys, yc = rgb_to_yiq(style)[:, :1], rgb_to_yiq(content)[:, :1]
    matched = (ys - ys.mean()) / (ys.std() + 1e-8) * yc.std() + yc.mean()
    return matched.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def with_content_chroma(output: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luminance of `output` (grey or colour) with the I and Q channels of `content`."""
    y = rgb_to_yiq(output)[:, :1]
    iq = rgb_to_yiq(torch.nn.functional.interpolate(content, size=output.shape[-2:], mode="bilinear",
                                                     align_corners=False))[:, 1:]
    return yiq_to_rgb(torch.cat([y, iq], dim=1)).clamp(0, 1)


def _sqrtm(cov: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    vals = vals.clamp_min(1e-8)
    vals = vals.rsqrt() if inverse else vals.sqrt()
    return vecs @ torch.diag(vals) @ vecs.T


def match_color_histogram(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """`style` with the content's RGB mean and covariance: x' = A (x - mu_s) + mu_c,
    A = Cov_c^1/2 Cov_s^-1/2 (the symmetric choice of the paper's linear transfer)."""
    def stats(img):
        flat = img[0].reshape(3, -1).double()
        mu = flat.mean(1, keepdim=True)
        cov = torch.cov(flat) + 1e-5 * torch.eye(3, dtype=flat.dtype)
        return flat, mu, cov

    s, mu_s, cov_s = stats(style)
    _, mu_c, cov_c = stats(content)
    a = _sqrtm(cov_c) @ _sqrtm(cov_s, inverse=True)
    out = a @ (s - mu_s) + mu_c
    return out.reshape_as(style[0]).unsqueeze(0).to(style.dtype).clamp(0, 1)


def prepare(content: torch.Tensor, styles: list[torch.Tensor], mode: str | None):
    """(content, styles) as a colour-preserving transfer uses them: for 'luminance' both become
    grey luminance (the styles' matched to the content's mean and spread; put the chroma back
    afterwards with `with_content_chroma`), for 'histogram' the styles take the content's
    colour statistics, for None nothing changes."""
    if mode == "luminance":
        return luminance(content), [match_luminance(s, content) for s in styles]
    if mode == "histogram":
        return content, [match_color_histogram(s, content) for s in styles]
    return content, styles
