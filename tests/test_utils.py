"""The assignment's utils.py: the original VGG-19 weights and their input convention, layer names."""

import pytest
import torch
import torch.nn as nn

from style_and_content import FeatureExtractor
from stylekit.base.errors import InputError
from utils import (CAFFE_MEAN_BGR, ORIGINAL_INPUT_SCALE, CaffePreprocess, original_weights_file, resolve_layer,
                   split_layer_weights)


def test_original_weights_dequantised_with_caffe_convention(cnn):
    raw = torch.load(original_weights_file(), weights_only=True)
    w = raw["block3_conv2_W_table"][raw["block3_conv2_W_q"].long()]
    torch.testing.assert_close(cnn.conv3_2.weight, w)
    torch.testing.assert_close(cnn.conv3_2.bias, raw["block3_conv2_b"] / ORIGINAL_INPUT_SCALE)
    assert len([m for m in cnn.modules() if isinstance(m, nn.Conv2d)]) == 16
    assert not any(p.requires_grad for p in cnn.parameters()) and not cnn.training
    # input convention: RGB [0,1] -> BGR 0-255 minus mean, divided by k
    img = torch.rand(1, 3, 5, 5)
    pre = CaffePreprocess()(img)
    bgr = img.flip(1) * 255 - torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    torch.testing.assert_close(pre, bgr / ORIGINAL_INPUT_SCALE)
    # dividing biases and input by k divides every activation by k
    conv = nn.Conv2d(3, 64, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(raw["block1_conv1_W_table"][raw["block1_conv1_W_q"].long()])
        conv.bias.copy_(raw["block1_conv1_b"])
    feats = FeatureExtractor(cnn, ["relu1_1"])(img)["relu1_1"]
    torch.testing.assert_close(feats * ORIGINAL_INPUT_SCALE, torch.relu(conv(bgr)), rtol=1e-4, atol=1e-3)


def test_split_layer_weights():
    assert split_layer_weights("relu1_1, conv_2,relu5_1:0.25") == (
        ["relu1_1", "conv1_2", "relu5_1"], {"relu5_1": 0.25})
    assert split_layer_weights(["relu4_1:0"]) == (["relu4_1"], {"relu4_1": 0.0})
    for bad in ("relu5_1:abc", "relu5_1:-1", "relu5_1:inf", "relu5_1:nan"):
        with pytest.raises(InputError, match="layer weight must be a non-negative number"):
            split_layer_weights(bad)
    with pytest.raises(InputError, match="unknown layer"):
        split_layer_weights("relu9_1:0.5")


def test_layer_names_and_tutorial_aliases():
    assert resolve_layer("conv_4") == "conv2_2"
    assert resolve_layer("conv_1") == "conv1_1"
    assert resolve_layer("conv_16") == "conv5_4"
    assert resolve_layer("relu4_2") == "relu4_2"
    with pytest.raises(InputError, match="valid layers: conv1_1"):
        resolve_layer("conv9_9")
