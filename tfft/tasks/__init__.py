"""The tasks tfft fine-tunes for. Each is a small plain object: its label space, its model head, and how its
examples become token features. The list of tasks is the one dict below."""

from tfft.tasks.classification import CLASSIFICATION, PAIR
from tfft.tasks.ner import NER

TASKS = {task.name: task for task in (CLASSIFICATION, PAIR, NER)}

__all__ = ["TASKS", "CLASSIFICATION", "PAIR", "NER"]
