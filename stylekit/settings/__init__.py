"""The typed settings of every kind of run, each with its named presets: the one place defaults
live. Front ends build one and hand it whole to what runs it.

    optimize.py   Settings: an optimization (run.py, `stylekit transfer`, video, the report)
    train.py      TrainSettings: training a style, texture or AdaIN network, a WCT decoder, an encoder
    onepass.py    OnePassSettings: one pass through trained decoders with any painting
    common.py     what they share
"""
from stylekit.settings.common import COLOR_MODES, PRECISIONS, flag
from stylekit.settings.onepass import (DEFAULT_ONEPASS, MAX_MARGIN, MAX_RIDGE, MAX_SHARPEN, ONEPASS_METHODS,
                                       ONEPASS_PRESETS, OnePassSettings)
from stylekit.settings.optimize import (HIST_LAYERS_DEFAULT, INITS, MULTISCALE, MULTISCALE_ABOVE, OPTIMIZERS, PRESETS,
                                        Settings, scale_schedule)
from stylekit.settings.train import TRAIN_KINDS, TRAIN_PRESETS, TRAINED_WEIGHTS, TrainSettings

__all__ = ["COLOR_MODES", "DEFAULT_ONEPASS", "HIST_LAYERS_DEFAULT", "INITS", "MAX_MARGIN", "MAX_RIDGE", "MAX_SHARPEN", "MULTISCALE",
           "MULTISCALE_ABOVE", "ONEPASS_METHODS", "ONEPASS_PRESETS", "OPTIMIZERS", "OnePassSettings", "PRECISIONS",
           "PRESETS", "Settings", "TRAINED_WEIGHTS", "TRAIN_KINDS", "TRAIN_PRESETS", "TrainSettings", "flag",
           "scale_schedule"]
