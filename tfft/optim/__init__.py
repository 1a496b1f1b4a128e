"""Optimizers (AdamW, SGD, Adafactor), learning-rate schedules, gradient clipping and accumulation, without Keras.

Each optimizer is a tf.Module around a pure update function and equals its PyTorch counterpart (torch.optim's,
transformers' Adafactor); each
schedule equals its Hugging Face transformers counterpart; clipping equals torch.nn.utils.clip_grad_norm_.
"""

from tfft.optim.adafactor import Adafactor, adafactor_update
from tfft.optim.adamw import AdamW, LearningRate, Optimizer, adamw_update, decay_mask
from tfft.optim.clipping import (GradientAccumulator, clip_by_global_norm, clip_coefficient, dense_gradients,
                                 global_norm)
from tfft.optim.schedules import AFTER_WARMUP, make_schedule, warmup_steps
from tfft.optim.sgd import SGD, sgd_update

__all__ = ["AFTER_WARMUP", "SGD", "Adafactor", "AdamW", "adafactor_update", "GradientAccumulator", "LearningRate", "Optimizer", "adamw_update",
           "clip_by_global_norm", "clip_coefficient", "decay_mask", "dense_gradients", "global_norm", "make_schedule",
           "sgd_update", "warmup_steps"]
