"""One split of a data set before tokenization, the label space, and the error every data problem raises.

Every example remembers where it came from (`file:line`), so a problem found late (an unknown label in
the test split, an empty text) is reported at its source.
"""

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence


class DataError(ValueError):
    """Bad input data or data flags; the message names the file, line or flag and what was expected."""


@dataclasses.dataclass
class Examples:
    """Raw examples of one split. Classification: texts + labels; pair: texts + text_pairs + labels;
    NER: words + labels, where each label is the list of per-word tags."""

    labels: list
    where: list[str]  # "file:line" of each example
    texts: list[str] | None = None
    text_pairs: list[str] | None = None
    words: list[list[str]] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, indices: Iterable[int]) -> "Examples":
        indices = list(indices)
        pick = lambda column: None if column is None else [column[i] for i in indices]  # noqa: E731
        return Examples(labels=pick(self.labels), where=pick(self.where), texts=pick(self.texts),
                        text_pairs=pick(self.text_pairs), words=pick(self.words))

    def concat(self, other: "Examples") -> "Examples":
        join = lambda a, b: None if a is None else a + b  # noqa: E731
        return Examples(labels=self.labels + other.labels, where=self.where + other.where,
                        texts=join(self.texts, other.texts), text_pairs=join(self.text_pairs, other.text_pairs),
                        words=join(self.words, other.words))

    def flat_labels(self) -> list[str]:
        """One label per example, or every tag of every sentence for NER."""
        return [tag for tags in self.labels for tag in tags] if self.words is not None else list(self.labels)


@dataclasses.dataclass(frozen=True)
class LabelSpace:
    """Label names by id. Stored with the run and written into the model config as id2label/label2id."""

    names: tuple[str, ...]

    def __post_init__(self):
        if len(set(self.names)) != len(self.names):
            raise DataError(f"label names must be distinct, got {list(self.names)}")

    def __len__(self) -> int:
        return len(self.names)

    def ids(self, labels: Sequence[str]) -> list[int]:
        index = {name: i for i, name in enumerate(self.names)}
        return [index[label] for label in labels]

    def to_json(self) -> dict:
        return {"id2label": dict(enumerate(self.names)), "label2id": {n: i for i, n in enumerate(self.names)}}


def label_counts(examples: Examples) -> dict[str, int]:
    """How often each label occurs (each tag, for NER): for class weighting and the recorded split. Unlabelled
    examples (a masked-LM corpus, labels None) count nothing."""
    return dict(sorted(Counter(label for label in examples.flat_labels() if label is not None).items()))
