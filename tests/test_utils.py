"""The assignment's utils.py: the original VGG-19 weights and their input convention."""

import torch
import torch.nn as nn

from style_and_content import FeatureExtractor
from utils import CAFFE_MEAN_BGR, ORIGINAL_INPUT_SCALE, CaffePreprocess, original_weights_file


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
