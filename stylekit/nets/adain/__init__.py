"""Arbitrary style transfer in one forward pass: the whitening and colouring transform (WCT,
the default) and adaptive instance normalisation (AdaIN).

A fixed VGG-19 encoder maps the content and the style image to features; a transform gives
the content features the style's statistics; a trained decoder maps them back to an image.
The style lives in those statistics, so any painting works without retraining.
- WCT (Li et al. 2017, "Universal Style Transfer via Feature Transforms"): the style's mean
  and full channel covariance, at relu4_1, relu3_1, relu2_1 and relu1_1 in turn, one decoder
  per level, each trained only to give photos back from their features.
- WCT lite (`--method wct-lite`): the same transform on a narrow encoder distilled from
  VGG-19 (`student`: a quarter of its channels, relu1_1 whole) with decoders of its features,
  for a pass several times shorter.
- AdaIN (Huang and Belongie 2017, "Arbitrary Style Transfer in Real-time with Adaptive
  Instance Normalization"): each channel's mean and standard deviation at relu4_1, one
  decoder trained against paintings.
Both transforms are affine maps of the features, so alpha (and WCT's blends) fold into them.

    model    the encoder, AdaIN and the channel statistics, the decoders, the training losses
    wct      the whitening and colouring transform and its statistics
    student  WCT lite's narrow encoder: pruned from VGG-19, distilled, calibrated
    train    training a decoder (AdaIN's on content/style pairs, WCT's on reconstruction) or
             the narrow encoder (distillation)
    infer    loading decoders, padding, the decoders' input, stylize()
    styles   the training style set of AdaIN, built from offline packages
    shipped  where the shipped decoders and their ONNX copies lie (no torch needed)
    export   the ONNX copies: WCT's bundle (the encoder in 8 bits, the decoders), AdaIN's decoder
    portable both pipelines over those copies in ONNX Runtime and numpy, without torch
    numpy_transforms  their transforms in numpy: WCT's, AdaIN's, the sharpening

    python -m stylekit adain --content photo.jpg --style painting.jpg   # WCT; --method adain
    python -m stylekit train-wct --level N                              # a WCT decoder
    python -m stylekit train-student                                    # WCT lite's encoder
    python -m stylekit train-wct --encoder models/wct_lite_encoder.pt --level N   # and its decoders
    python -m stylekit build-styles                 # AdaIN's training styles -> data/styles
    python -m stylekit train-adain --out models/adain_decoder.pt [--resume]

Departures from the paper, and why:
- A narrower decoder (`width`, a fraction of the paper's channels): the paper's decoder
  costs as much as the encoder, and the 512 px forward pass has to stay fast on two CPU
  cores (timings in BENCHMARKS.md).
- The losses divide each layer's features by `model.LAYER_SCALES`: the paper's weights (style
  10) were set on a VGG whose filters were normalised to a mean activation of 1, while ours
  (`utils.load_vgg19`) runs on torchvision's input scale, where relu4_1 is far larger than
  relu1_1.
- Images are padded to a multiple of 8 by reflection and the output cropped back, so any
  size comes out at exactly its own size.
- The training styles are paintings and textures from offline packages (`styles`), never
  the bundled images/style/ ones, which stay unseen styles for evaluation.
"""
