"""Train / validation / test: predefined splits are used as they are; missing ones are cut from the training
data by a stratified split (by sentence for NER), reproducible from the seed, said in a warning and recorded
with the run as each split's source."""

import logging
from collections import Counter

import numpy as np
from sklearn.model_selection import train_test_split

from tfft.data.examples import DataError, Examples, LabelSpace, label_counts

log = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")


def _stratify_labels(examples: Examples, size: int) -> list | None:
    """The labels to stratify by, or None (a random split; by sentence for NER) when stratifying is impossible:
    NER, unlabelled documents, a class with a single example, or a held-out part smaller than the number of classes."""
    if examples.words is not None or None in examples.labels:  # NER; an unlabelled corpus
        return None
    counts = Counter(examples.labels)
    if min(counts.values()) < 2 or min(size, len(examples) - size) < len(counts):
        log.warning("a split of %d from %d examples with label counts %s cannot be stratified; it is random",
                    size, len(examples), dict(counts))
        return None
    return list(examples.labels)


def split_off(examples: Examples, size: int, seed: int) -> tuple[Examples, Examples]:
    """(rest, held-out of `size` examples), stratified by label where possible."""
    indices = np.arange(len(examples))
    rest, held = train_test_split(indices, test_size=size, random_state=seed,
                                  stratify=_stratify_labels(examples, size))
    return examples.select(sorted(rest)), examples.select(sorted(held))


def source_of(examples: Examples) -> str:
    """The file (or Hub split) a split was read from: what its examples' places ('file:line') share."""
    return examples.where[0].rpartition(":")[0] if examples.where else "(no examples)"


def _percent(fraction: float) -> str:
    """The fraction as the user gave it, in percent: 0.1 -> '10%', 0.125 -> '12.5%'."""
    return f"{fraction * 100:g}%"


def make_splits(found: dict[str, Examples], *, val_fraction: float, test_fraction: float, seed: int,
                max_train_examples: int | None) -> tuple[dict[str, Examples], dict[str, str]]:
    """All three splits, and where each comes from: the file (or Hub split) it was read from, or how it was
    carved, e.g. 'carved from train: 10%, seed 0'. Without a train split, the one split given is the pool all three
    are cut from. Every carved split is said in a warning: its numbers would otherwise pass for a real split's."""
    splits, sources = dict(found), {name: source_of(examples) for name, examples in found.items()}
    carved_from = "train"
    if "train" not in splits:
        if len(splits) != 1:
            raise DataError(f"no train split among {sorted(splits)}: provide a train file")
        (name, pool), = splits.items()
        carved_from = f"{name} ({sources[name]})"
        log.warning("only a %s split is given (%s): train, validation and test are all carved from its %d examples; "
                    "give the splits with --train_file / --validation_file / --test_file", name, sources[name],
                    len(pool))
        splits, sources = {"train": pool}, {"train": f"carved from {carved_from}: the rest"}
    pool_size = len(splits["train"])
    for name, fraction in (("test", test_fraction), ("validation", val_fraction)):
        if name not in splits:
            flag = "val_fraction" if name == "validation" else "test_fraction"
            size = max(1, round(fraction * pool_size))
            if size >= len(splits["train"]):
                raise DataError(f"--{flag}={fraction}: the training split has only {len(splits['train'])} examples")
            splits["train"], splits[name] = split_off(splits["train"], size, seed)
            sources[name] = f"carved from {carved_from}: {_percent(fraction)}, seed {seed}"
            log.warning("no %s split given: carved %s of %s (%d of %d examples, seed %d) as the %s split; give "
                        "the real one with --%s_file", name, _percent(fraction), carved_from, size, pool_size, seed,
                        name, name)
    if max_train_examples is not None and len(splits["train"]) > max_train_examples:
        _, splits["train"] = split_off(splits["train"], max_train_examples, seed)
        log.info("subsampled train to %d examples (--max_train_examples)", max_train_examples)
    return {name: splits[name] for name in SPLITS}, {name: sources[name] for name in SPLITS}


def drop_label_share(train: Examples, fractions: dict[str, float], seed: int) -> Examples:
    """Keeps a seeded random `fraction` (at least one) of the training examples of each named class, e.g. to make
    a balanced set imbalanced for a class-weighting study; validation and test keep their natural balance."""
    if not fractions:
        return train
    if train.words is not None:
        raise DataError("--train_label_fraction: classification and pair tasks only (NER labels are per word)")
    counts = Counter(train.labels)
    unknown = sorted(set(fractions) - set(counts))
    if unknown:
        raise DataError(f"--train_label_fraction: labels {unknown} do not occur in the training split "
                        f"(labels: {', '.join(sorted(counts))})")
    rng = np.random.default_rng(seed)
    keep = []
    for label in sorted(counts):
        indices = [i for i, y in enumerate(train.labels) if y == label]
        if label in fractions:
            size = max(1, round(fractions[label] * len(indices)))
            indices = rng.choice(indices, size=size, replace=False).tolist()
            log.info("--train_label_fraction: kept %d of %d training examples labelled %r", size, counts[label],
                     label)
        keep += indices
    return train.select(sorted(keep))


def check_labels(splits: dict[str, Examples], labels: LabelSpace) -> None:
    """Every validation/test label must be known from training (the model has no output for it otherwise)."""
    known = set(labels.names)
    for name, examples in splits.items():
        for label, place in _labels_with_places(examples):
            if label not in known:
                raise DataError(f"{place}: label {label!r} in the {name} split never occurs in train; "
                                f"known labels: {', '.join(labels.names)}")


def _labels_with_places(examples: Examples):
    if examples.words is not None:
        return ((tag, place) for tags, place in zip(examples.labels, examples.where) for tag in tags)
    return zip(examples.labels, examples.where)


def summary(splits: dict[str, Examples]) -> dict:
    """What is recorded in the run directory: examples and counts per label (per tag for NER) in each split."""
    return {name: {"examples": len(examples), "labels": label_counts(examples)} for name, examples in splits.items()}
