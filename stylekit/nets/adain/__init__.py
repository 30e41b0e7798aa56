"""Arbitrary style transfer in one forward pass: adaptive instance normalisation (AdaIN).

Huang and Belongie 2017, "Arbitrary Style Transfer in Real-time with Adaptive Instance
Normalization". A fixed VGG-19 encoder (up to relu4_1) maps the content and the style image
to features; AdaIN gives the content features the style features' per-channel mean and
standard deviation; a trained decoder maps the result back to an image. The style lives in
those two vectors, so any style image works without retraining.

    model    the encoder, AdaIN and the channel statistics, the decoder, the training losses
    train    content/style crop pairs, training a decoder, exporting it (with its sittings)
    infer    loading a decoder, padding, the decoder's input, stylize()
    styles   the training style set, built from offline packages

    python -m stylekit build-styles                 # training styles -> data/styles
    python -m stylekit train-adain --out models/adain_decoder.pt [--resume]
    python -m stylekit adain --content photo.jpg --style painting.jpg

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
