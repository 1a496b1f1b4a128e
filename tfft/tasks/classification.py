"""Sequence classification: one text (or a pair of texts) -> one label."""

import dataclasses
from collections.abc import Sequence

import numpy as np

from tfft import tokenization
from tfft.data.examples import DataError, Examples, LabelSpace
from tfft.data.features import Encoded


def _sort_key(name: str):
    """Integer-looking labels sort numerically ('2' before '10'), others alphabetically."""
    return (0, int(name), "") if name.removeprefix("-").isdecimal() and len(name) <= 19 else (1, 0, name)


@dataclasses.dataclass(frozen=True)
class SequenceTask:
    name: str
    pair: bool
    head: str = "sequence_classification"

    def label_space(self, train: Examples, given: Sequence[str] | None = None) -> LabelSpace:
        """The given names in their order, else the training labels sorted (numerically when they are ints)."""
        seen = set(train.labels)
        if given is not None:
            unknown = sorted(seen - set(given))
            if unknown:
                raise DataError(f"training labels {unknown} are not among the given label names {list(given)}")
            return LabelSpace(tuple(given))
        if len(seen) < 2:
            raise DataError(f"the training split has a single class {sorted(seen)}: classification needs at least 2")
        return LabelSpace(tuple(sorted(seen, key=_sort_key)))

    def encode(self, tokenizer, examples: Examples, labels: LabelSpace, *, max_length: int,
               label_all_subtokens: bool = False) -> Encoded:
        del label_all_subtokens  # a token-classification option
        features = tokenization.encode_texts(tokenizer, examples.texts, max_length=max_length,
                                             text_pairs=examples.text_pairs if self.pair else None)
        return Encoded.from_features(features, example_labels=np.asarray(labels.ids(examples.labels), np.int32))


CLASSIFICATION = SequenceTask("classification", pair=False)
PAIR = SequenceTask("pair", pair=True)
