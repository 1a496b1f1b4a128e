"""Named-entity recognition: pre-split words -> one BIO (IOB2) tag per word.

Tag schemes: IOB2 (BIO) starts every entity with B-; IOB1 (the original CoNLL-2003 files) uses I- for
entity starts and B- only between two adjacent entities of the same type. tfft trains on IOB2 and
converts IOB1 on request or when it sees an entity start written I-X.
"""

import dataclasses
from collections.abc import Sequence

import numpy as np

from tfft import tokenization
from tfft.data.examples import DataError, Examples, LabelSpace
from tfft.data.features import Encoded


def check_tag(tag: str) -> str | None:
    """The problem with a tag, or None when it is O / B-TYPE / I-TYPE."""
    if tag == "O":
        return None
    prefix, _, kind = tag.partition("-")
    if prefix not in ("B", "I") or not kind:
        return f"tag {tag!r} is not BIO (expected O, B-TYPE or I-TYPE)"
    return None


def starts_with_inside(tags: Sequence[str]) -> bool:
    """True when an entity begins with I-X (after O, at the start, or after another type): IOB1, or broken IOB2."""
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return True
        previous = tag
    return False


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """Rewrites every entity start as B-X; other tags are unchanged."""
    out, previous = [], "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def entity_types(names: Sequence[str]) -> list[str]:
    return sorted({name[2:] for name in names if name != "O"})


@dataclasses.dataclass(frozen=True)
class TokenTask:
    name: str = "ner"
    head: str = "token_classification"
    pair: bool = False

    def label_space(self, train: Examples, given: Sequence[str] | None = None) -> LabelSpace:
        """O first, then B-/I- per entity type in alphabetical order (or the given names in their order)."""
        seen = set(train.flat_labels())
        if given is not None:
            unknown = sorted(seen - set(given))
            if unknown:
                raise DataError(f"training tags {unknown} are not among the given label names {list(given)}")
            return LabelSpace(tuple(given))
        kinds = entity_types(seen)
        if not kinds:
            raise DataError("the training split has no entity tags (only 'O'): NER needs at least one entity type")
        return LabelSpace(("O",) + tuple(f"{p}-{kind}" for kind in kinds for p in "BI"))

    def encode(self, tokenizer, examples: Examples, labels: LabelSpace, *, max_length: int,
               label_all_subtokens: bool = False) -> Encoded:
        tag_ids = [np.asarray(labels.ids(tags), np.int32) for tags in examples.labels]
        return Encoded.from_features(tokenization.encode_words(
            tokenizer, examples.words, max_length=max_length, labels=tag_ids, label_all_subtokens=label_all_subtokens))


NER = TokenTask()
