"""Data for fine-tuning: read a source, make the splits, fix the label space, tokenize once (cached), batch.

    data = load_data(DataConfig(dataset="data/sst2"), TASKS["classification"])  # train.tsv, dev.tsv, test.tsv
    encoded = encode_data(data, tokenizer, max_length=128)
    train = Batches(encoded["train"], batch_size=32, boundaries=bucket_boundaries(128), pad_token_id=0,
                    seed=0, shuffle=True)
    for batch in train.dataset(epoch=0): ...
"""

import dataclasses
import logging
import pathlib

import numpy as np

from tfft.data.examples import DataError, Examples, LabelSpace, label_counts
from tfft.data.features import DEFAULT_CACHE_DIR, Encoded, encode_split
from tfft.data.pipeline import Batches, Plan, bucket_boundaries, make_plan
from tfft.data.sources import DataConfig, read_splits
from tfft.data.splits import check_labels, drop_label_share, make_splits, summary

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Data:
    """A task's three splits, its label space, and where each split comes from ({split: source}: a file, a Hub
    split, or how it was carved, e.g. 'carved from train: 10%, seed 0')."""

    task: object
    splits: dict[str, Examples]
    labels: LabelSpace
    sources: dict[str, str] = dataclasses.field(default_factory=dict)

    def summary(self) -> dict:
        """Where each split comes from, examples and label counts per split: recorded in the run directory."""
        return {"task": self.task.name, "labels": list(self.labels.names), "sources": dict(self.sources),
                "splits": summary(self.splits)}

    def class_counts(self) -> np.ndarray:
        """Training examples (tokens, for NER) per label id, for class weighting."""
        counts = label_counts(self.splits["train"])
        return np.array([counts.get(name, 0) for name in self.labels.names], np.int64)


def load_data(config: DataConfig, task) -> Data:
    found, names = read_splits(config, task)
    splits, sources = make_splits(found, val_fraction=config.val_fraction, test_fraction=config.test_fraction,
                                  seed=config.seed, max_train_examples=config.max_train_examples)
    splits["train"] = drop_label_share(splits["train"], config.label_fractions(), config.seed)
    labels = task.label_space(splits["train"], given=names)
    if labels:  # masked-LM corpora have none
        check_labels(splits, labels)
    if config.train_on_validation:
        log.info("--train_on_validation: training on %d train + %d validation examples", len(splits["train"]),
                 len(splits["validation"]))
        splits["train"] = splits["train"].concat(splits["validation"])
        sources["train"] = f"{sources['train']} + {sources['validation']}"
    return Data(task, splits, labels, sources)


def encode_data(data: Data, tokenizer, *, max_length: int, label_all_subtokens: bool = False,
                cache_dir: pathlib.Path | None = DEFAULT_CACHE_DIR) -> dict[str, Encoded]:
    return {name: encode_split(data.task, tokenizer, examples, data.labels, name=name, max_length=max_length,
                               label_all_subtokens=label_all_subtokens, cache_dir=cache_dir)
            for name, examples in data.splits.items()}


__all__ = ["Batches", "Data", "DataConfig", "DataError", "Encoded", "Examples", "LabelSpace", "Plan",
           "bucket_boundaries", "encode_data", "load_data", "make_plan"]
