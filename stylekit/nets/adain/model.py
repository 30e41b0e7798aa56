"""The AdaIN networks and losses: the fixed VGG-19 encoder, AdaIN and the channel statistics
it moves, the trained decoder, and the losses the decoder is trained with."""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from style_and_content import named_vgg_layers
from stylekit.base.errors import InputError
from stylekit.nets.adain.shipped import LEVELS
from stylekit.settings import TrainSettings

MODEL_FORMAT = "style-transfer-adain-decoder/1"
ENCODER_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
# Mean activation of each encoder layer over our training photos (128 px crops): dividing by
# it puts every layer on the paper's normalised-VGG scale, where the paper's style weight applies.
LAYER_SCALES = (0.38, 2.2, 2.3, 9.0)
DEFAULT_WIDTH = TrainSettings.preset("adain").width  # the shipped decoder's


# ---------------------------------------------------------------------------------------
# Encoder, AdaIN, decoder
# ---------------------------------------------------------------------------------------

class Encoder(nn.Module):
    """The project's VGG-19 (from `utils.load_vgg19`) up to relu4_1, frozen, in eval mode.

    forward(img) -> [relu1_1, relu2_1, relu3_1, relu4_1] activations. Max pooling is kept,
    though `named_vgg_layers` swaps it for average pooling: that swap smooths the gradients
    of pixel optimisation, whereas here the decoder learns to invert the features the VGG
    was trained to produce, as the paper's plain-VGG encoder does.
    """

    width = 1.0   # the fraction of VGG-19's channels (a narrow encoder's, `student`, is less)

    def __init__(self, cnn: nn.Module):
        super().__init__()
        stages, current = [], []
        for name, layer in named_vgg_layers(cnn):
            if isinstance(layer, nn.AvgPool2d):
                layer = nn.MaxPool2d(layer.kernel_size, layer.stride)
            # A copy: the layout change below must not reach the caller's network, nor in-place
            # ReLUs (they spare a full-size copy per layer; the optimization's losses read the
            # caller's ReLU outputs).
            layer = copy.deepcopy(layer)
            if isinstance(layer, nn.ReLU):
                layer.inplace = True
            current.append(layer)
            if name in ENCODER_LAYERS:
                stages.append(nn.Sequential(*current))
                current = []
            if name == ENCODER_LAYERS[-1]:
                break
        self.stages = nn.ModuleList(stages)
        # oneDNN's convolutions run faster on CPU with channels-last weights; the activations
        # follow the weights' layout.
        self.requires_grad_(False).eval().to(memory_format=torch.channels_last)

    def forward(self, img: torch.Tensor, levels: int = 4) -> list[torch.Tensor]:
        """The activations of the first `levels` encoder layers (relu1_1 ... relu4_1)."""
        feats, x = [], img
        for stage in self.stages[:levels]:
            x = stage(x)
            feats.append(x)
        return feats


def channel_stats(feat: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation over the positions: two (B, C, 1, 1) tensors.

    Computed in fp32 even under bf16 autocast: a variance summed over thousands of positions
    loses its small differences in bf16's 8-bit mantissa.
    """
    with torch.autocast(feat.device.type, enabled=False):
        f = feat.float()
        mean = f.mean((2, 3), keepdim=True)
        std = (f.var((2, 3), keepdim=True, unbiased=False) + eps).sqrt()
    return mean, std


def masked_stats(feat: torch.Tensor, mask: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """`channel_stats` over a soft mask (1, 1, h, w) at the features' size: weighted by it."""
    with torch.autocast(feat.device.type, enabled=False):
        f, m = feat.float(), mask.float()
        mass = m.sum((2, 3), keepdim=True).clamp_min(1e-8)
        mean = (f * m).sum((2, 3), keepdim=True) / mass
        var = ((f - mean).pow(2) * m).sum((2, 3), keepdim=True) / mass
    return mean, (var + eps).sqrt()


def adain(content_feat: torch.Tensor, style_feat: torch.Tensor, mask: torch.Tensor | None = None,
          eps: float = 1e-5, alpha: float = 1.0) -> torch.Tensor:
    """Content features with each channel's mean and std replaced by the style features'.
    mask: a soft mask (1, 1, h, w); the content's statistics are then taken inside it.
    alpha: the result mixed with the content features, (1 - alpha) x + alpha y, folded into
    the per-channel scale and shift (one pass over the features)."""
    c_mean, c_std = channel_stats(content_feat, eps) if mask is None else masked_stats(content_feat, mask, eps)
    s_mean, s_std = channel_stats(style_feat, eps)
    scale = s_std / c_std
    shift = s_mean - c_mean * scale
    if alpha != 1:
        scale, shift = alpha * scale + (1 - alpha), alpha * shift
    return torch.addcmul(shift, content_feat.float(), scale)


def _conv(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
    layers = [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
    return layers + [nn.ReLU(inplace=True)] if relu else layers


def _upsample() -> nn.Module:
    return nn.Upsample(scale_factor=2, mode="nearest")


# VGG-19's convolutions up to relu4_1: (block, input channels, output channels). A pooling
# precedes the first convolution of blocks 2-4.
VGG_CONVS = ((1, 3, 64), (1, 64, 64), (2, 64, 128), (2, 128, 128), (3, 128, 256), (3, 256, 256), (3, 256, 256),
             (3, 256, 256), (4, 256, 512))
FIRST_OF_BLOCK = {level: [block for block, _, _ in VGG_CONVS].index(level) for level in LEVELS}


def feature_channels(level: int, feature_width: float = 1.0) -> int:
    """relu{level}_1's channels in an encoder with `feature_width` of VGG-19's (`student`):
    relu1_1 always keeps its 64 (its convolution reads three colours and costs little)."""
    cout = VGG_CONVS[FIRST_OF_BLOCK[level]][2]
    return cout if level == 1 else max(1, round(cout * feature_width))


class Decoder(nn.Module):
    """relu{level}_1 features -> image: the encoder up to that layer mirrored, pooling replaced
    by nearest 2x upsampling, reflection padding against border artefacts (as in the paper).
    AdaIN decodes relu4_1 (level 4); the whitening and colouring transform (`wct`) has one
    decoder per level.

    `width` scales the paper's inner channel counts (256, 128, 64), `feature_width` the channels
    of the features it takes (a narrow encoder's, `student`); `full_size_width` (default `width`)
    scales instead the channels of the last stage, at the picture's full size, where each
    convolution costs four times what it costs a stage before. The output is not squashed:
    the loss sees it as it is (a sigmoid would slow learning at the extremes); callers clamp.

    Departure from PyTorch's default initialisation, which shrinks the signal at each of the
    nine convolutions: trained from it on pixel reconstruction, the decoder long output only
    the mean colour (README.md, "Any painting in one pass"). He-initialised weights on inputs
    divided by the layer's mean activation keep the signal's scale. The last convolution starts
    near zero with a mid-grey bias, so training starts from a flat grey picture.
    """

    def __init__(self, width: float = DEFAULT_WIDTH, level: int = 4, feature_width: float = 1.0,
                 full_size_width: float | None = None):
        super().__init__()
        full_size_width = width if full_size_width is None else full_size_width
        for name, value in (("width (--width)", width), ("feature width", feature_width),
                            ("full-size width (--full-size-width)", full_size_width)):
            if not 0 < value <= 1:
                raise InputError(f"decoder {name} must be in (0, 1], not {value}")
        if level not in LEVELS:
            raise InputError(f"decoder level must be one of {', '.join(map(str, LEVELS))} (relu1_1 ... relu4_1), "
                             f"not {level}")
        # feature_width: the fraction of VGG-19's channels in the features decoded (a narrow
        # encoder's, `student`); recorded only when not 1, so the VGG decoders' files stay as made.
        # full_size_width likewise only when it differs from width and there is a stage before
        # the last (relu1_1's decoder is one convolution from the features to the colours).
        if level == 1:
            full_size_width = width
        self.arch = {"width": width, "level": level, **({"feature_width": feature_width} if feature_width != 1 else {}),
                     **({"full_size_width": full_size_width} if full_size_width != width else {})}
        self.level = level
        convs = VGG_CONVS[:FIRST_OF_BLOCK[level] + 1]

        def channels(block: int, vgg_channels: int) -> int:
            return max(1, round(vgg_channels * (full_size_width if block == 1 else width)))

        layers = []
        for i in reversed(range(len(convs))):
            block, cin, cout = convs[i]
            into = 3 if i == 0 else channels(convs[i - 1][0], cin)
            outof = feature_channels(level, feature_width) if i == len(convs) - 1 else channels(block, cout)
            layers += _conv(outof, into, relu=i > 0)
            if block > 1 and i == FIRST_OF_BLOCK[block]:
                layers.append(_upsample())
        self.net = nn.Sequential(*layers)
        convs = [m for m in self.net if isinstance(m, nn.Conv2d)]
        for conv in convs[:-1]:
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
        nn.init.normal_(convs[-1].weight, std=1e-3)
        nn.init.constant_(convs[-1].bias, 0.45)
        self.to(memory_format=torch.channels_last)  # as the encoder's, for speed

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.net(feat / LAYER_SCALES[self.level - 1])


# ---------------------------------------------------------------------------------------
# The training loss
# ---------------------------------------------------------------------------------------

def _scaled(feats: list[torch.Tensor]) -> list[torch.Tensor]:
    return [f.float() / s for f, s in zip(feats, LAYER_SCALES)]


class FeatureLoss(nn.Module):
    """MSE between two activations of encoder layer relu{level}_1, each divided by the layer's
    mean activation (AdaIN's content loss at relu4_1)."""

    def __init__(self, level: int = 4):
        super().__init__()
        self.scale = LAYER_SCALES[level - 1]

    def forward(self, output_feat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.autocast(output_feat.device.type, enabled=False):
            return F.mse_loss(output_feat.float() / self.scale, target.float() / self.scale)


class MomentStyleLoss(nn.Module):
    """Sum over the encoder layers of the MSE of the channel means plus that of the channel
    standard deviations, between the decoded image's features and the style image's."""

    def forward(self, output_feats: list[torch.Tensor], style_feats: list[torch.Tensor]) -> torch.Tensor:
        with torch.autocast(output_feats[0].device.type, enabled=False):
            total = 0.0
            for out, style in zip(_scaled(output_feats), _scaled(style_feats)):
                (o_mean, o_std), (s_mean, s_std) = channel_stats(out), channel_stats(style)
                total = total + F.mse_loss(o_mean, s_mean) + F.mse_loss(o_std, s_std)
        return total


class IdentityLoss(nn.Module):
    """Pixel MSE between images decoded from their own relu4_1 features and the images.

    Not in the AdaIN paper: Park and Lee's identity loss (SANet, 2019). The paper's losses
    reach the pixels only through VGG features, and on a CPU budget the decoder learned to
    invert them too slowly (blurred, streaked pictures); decoding the content and style crops
    themselves gives it a direct signal, at the cost of one more decoder pass.
    """

    def forward(self, decoded: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        with torch.autocast(decoded.device.type, enabled=False):
            return F.mse_loss(decoded.float(), images.float())


class AdaINLoss(nn.Module):
    """The training objective, as `nets.training.train`'s loss_fn: (decoder, pairs) -> weighted
    terms, where pairs is (B, 2, 3, S, S): content crops over style crops."""

    def __init__(self, encoder: Encoder, style_weight: float, content_weight: float = 1.0,
                 identity_weight: float = 0.0):
        super().__init__()
        self.encoder = encoder
        self.weights = {"content": content_weight, "style": style_weight, "identity": identity_weight}
        self.content_loss = FeatureLoss()
        self.style_loss = MomentStyleLoss()
        self.identity_loss = IdentityLoss()

    def forward(self, decoder: nn.Module, pairs: torch.Tensor) -> dict[str, torch.Tensor]:
        content, style = pairs[:, 0], pairs[:, 1]
        b = len(content)
        with torch.no_grad():
            # One encoder pass for both halves: a batch twice as large runs faster than two.
            feats = self.encoder(torch.cat([content, style]))
            style_feats = [f[b:] for f in feats]
            target = adain(feats[-1][:b], style_feats[-1])
        identity = self.weights["identity"] != 0
        decoded = decoder(torch.cat([target, feats[-1]]) if identity else target)
        # fp32 into the encoder: its preprocessing scales pixels to 0-255, where bf16's
        # 8-bit mantissa would round them.
        output_feats = self.encoder(decoded[:b].float())
        terms = {"content": self.weights["content"] * self.content_loss(output_feats[-1], target),
                 "style": self.weights["style"] * self.style_loss(output_feats, style_feats)}
        if identity:
            terms["identity"] = self.weights["identity"] * self.identity_loss(decoded[b:], torch.cat([content, style]))
        return terms


class ReconstructionLoss(nn.Module):
    """The WCT decoders' objective (Li et al. 2017): decode a photo's relu{level}_1 features and
    compare the result with the photo, in its features and in pixels. As `nets.training.train`'s
    loss_fn: (decoder, crops (B, 3, S, S)) -> weighted terms. Nothing of any style is learned,
    which is why one decoder per level serves every painting.

    judge: another encoder (VGG-19 for a narrow one's decoder) whose features the result is
    compared in, instead of the features decoded: the narrow encoder overlooks some of what
    VGG-19 sees, and the judge's metric is the one the pictures are measured in (BENCHMARKS.md,
    "WCT lite given more of WCT", "WCT lite's new decoders shipped")."""

    def __init__(self, encoder: Encoder, level: int, feature_weight: float, pixel_weight: float,
                 judge: Encoder | None = None):
        super().__init__()
        self.encoder, self.level, self.judge = encoder, level, judge or encoder
        self.weights = {"features": feature_weight, "pixels": pixel_weight}
        self.feature_loss = FeatureLoss(level)
        self.pixel_loss = IdentityLoss()

    def forward(self, decoder: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            feats = self.encoder(images, self.level)[-1]
            target = feats if self.judge is self.encoder else self.judge(images, self.level)[-1]
        decoded = decoder(feats)
        # fp32 into the encoder, as in AdaINLoss
        output = self.judge(decoded.float(), self.level)[-1]
        return {"features": self.weights["features"] * self.feature_loss(output, target),
                "pixels": self.weights["pixels"] * self.pixel_loss(decoded, images)}
