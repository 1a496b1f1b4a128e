"""The tasks tfft trains for. Each is a small plain object: its label space, its model head, and how its
examples become token features. The list of tasks is the one dict below; `mlm` is continued masked-LM
pretraining of the encoder, whose result the others fine-tune (--model=RUN/best)."""

from tfft.tasks.classification import CLASSIFICATION, PAIR
from tfft.tasks.masked_lm import MLM
from tfft.tasks.ner import NER

TASKS = {task.name: task for task in (CLASSIFICATION, PAIR, NER, MLM)}

__all__ = ["TASKS", "CLASSIFICATION", "PAIR", "NER", "MLM"]
