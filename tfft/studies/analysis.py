"""Data analysis of a sentence-pair (or single-text) classification data set, for the study reports: how the
labels are balanced in each split, how long the texts are (in words, and in tokens as the model sees them when a
tokenizer is given) and how much the two texts of a pair share their words, per label.

    result = analyse_pairs(data, "study/data", tokenizer=load_tokenizer(model), max_length=128)
    analysis_sections(doc, result, pathlib.Path("study/data"))  # a report.Doc whose root holds study/data

Lengths and overlap are over all examples of all splits (the data set as a whole); label counts are per split.
Data loaded with --train_on_validation has the validation examples in train too, so they are counted twice.

Words are whitespace-separated; for the overlap they are lower-cased, stripped of non-alphanumeric characters at
both ends ("Dog," and "dog" are one word, "don't" stays whole) and dropped when nothing is left ("--"). The
overlap of a pair is the Jaccard similarity of its two word sets. The point-biserial correlation between overlap
and a two-label label (the second label name is 1) is Pearson's r of the overlap with that 0/1 label, which is
what scipy.stats.pointbiserialr computes.
"""

import functools
import math
import pathlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from tfft import files
from tfft.data import Data, Examples
from tfft.studies import plots

if TYPE_CHECKING:
    from tfft.studies.report import Doc

LABEL_BALANCE_FIGSIZE = (12.0, 4.0)  # one panel per split
LENGTHS_FIGSIZE = (10.0, 4.5)  # words per text, words per label
LENGTHS_TOKENS_FIGSIZE = (15.0, 4.5)  # and tokens per example, when a tokenizer is given
OVERLAP_FIGSIZE = (12.0, 4.5)  # box plot per label, histogram per label
MAX_LENGTH = 128
SPLITS = ("train", "validation", "test")
MOST_BINS = 50
OVERLAP_BINS = np.linspace(0.0, 1.0, 21)
TOKENIZER_CHUNK = 1024  # examples tokenized per call: bounds the memory the token ids take
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")

# ---------------------------------------------------------------- pure helpers


def word_set(text: str) -> set[str]:
    """The lower-cased words of `text`, punctuation stripped from their ends, empty ones dropped."""
    return {word for word in (_EDGES.sub("", token) for token in text.lower().split()) if word}


def jaccard(a: str, b: str) -> float:
    """|A ∩ B| / |A ∪ B| of the word sets of `a` and `b`; 0.0 when both have no words."""
    first, second = word_set(a), word_set(b)
    union = first | second
    return len(first & second) / len(union) if union else 0.0


def word_lengths(texts: Iterable[str]) -> list[int]:
    """Whitespace-separated words per text."""
    return [len(text.split()) for text in texts]


def length_stats(values: Sequence[float]) -> dict:
    """{"mean", "median", "p95" (linear interpolation), "max"} of a non-empty sequence."""
    array = np.asarray(values)
    if not array.size:
        raise ValueError("no values: statistics of an empty sequence")
    return {"mean": float(array.mean()), "median": float(np.median(array)), "p95": float(np.percentile(array, 95)),
            "max": array.max().item()}


def point_biserial(values: Sequence[float], binary: Sequence[int]) -> float | None:
    """Pearson's r of `values` with a 0/1 variable; None when either is constant (r is undefined)."""
    values, binary = np.asarray(values, np.float64), np.asarray(binary, np.float64)
    if values.std() == 0 or binary.std() == 0:
        return None
    return float(np.corrcoef(values, binary)[0, 1])


def token_lengths(tokenizer, texts: Sequence[str], text_pairs: Sequence[str] | None) -> list[int]:
    """len(tokenizer(text, text_pair)["input_ids"]) per example: special tokens included, nothing truncated."""
    lengths = []
    for start in range(0, len(texts), TOKENIZER_CHUNK):
        chunk = [list(texts[start:start + TOKENIZER_CHUNK])]
        if text_pairs is not None:
            chunk.append(list(text_pairs[start:start + TOKENIZER_CHUNK]))
        encoded = tokenizer(*chunk, return_attention_mask=False, return_token_type_ids=False)
        lengths += [len(ids) for ids in encoded["input_ids"]]
    return lengths


# ---------------------------------------------------------------- the analysis


def analyse_pairs(data: Data, output_dir: str | pathlib.Path, *, tokenizer=None, max_length: int = MAX_LENGTH) -> dict:
    """Writes label_balance.png, lengths.png, overlap.png (pairs only) and analysis.json into `output_dir`;
    returns what analysis.json holds. `tokenizer` (a fast Hugging Face tokenizer) adds token lengths and the share
    of examples longer than `max_length` tokens."""
    output_dir = pathlib.Path(output_dir)
    names = list(data.labels.names)
    every = _every_example(data)
    pairs = every.text_pairs is not None
    words = _words(every)
    tokens = token_lengths(tokenizer, every.texts, every.text_pairs) if tokenizer is not None else None
    overlaps = [jaccard(a, b) for a, b in zip(every.texts, every.text_pairs)] if pairs else None
    result = {"labels": names, "examples": len(every), "pairs": pairs,
              "splits": {split: _split_counts(examples, names) for split, examples in data.splits.items()},
              "words": {column: length_stats(values) for column, values in words.items()},
              "per_label": _per_label(every.labels, names, words, tokens, overlaps),
              "images": {"label_balance": "label_balance.png", "lengths": "lengths.png"}}
    _label_balance_figure(result["splits"], names, output_dir / "label_balance.png")
    if tokens is not None:
        over = sum(length > max_length for length in tokens) / len(tokens)
        result["tokens"] = {**length_stats(tokens), "max_length": max_length, "over_max_length": over}
    _lengths_figure(every.labels, names, words, tokens, max_length, output_dir / "lengths.png")
    if pairs:
        result["overlap"] = _overlap_summary(every.labels, names, overlaps)
        result["images"]["overlap"] = "overlap.png"
        _overlap_figure(every.labels, names, overlaps, result["overlap"], output_dir / "overlap.png")
    files.write_json(output_dir / "analysis.json", result)
    return result


def _every_example(data: Data) -> Examples:
    every = functools.reduce(Examples.concat, data.splits.values())
    if every.texts is None:
        raise ValueError("the analysis is of texts with one label each (classification or pair), not of NER words")
    if not len(every):
        raise ValueError("the data set has no examples")
    return every


def _words(every: Examples) -> dict[str, list[int]]:
    """{"text": words per example[, "text_pair": ..., "both": text + text_pair]}."""
    if every.text_pairs is None:
        return {"text": word_lengths(every.texts)}
    first, second = word_lengths(every.texts), word_lengths(every.text_pairs)
    return {"text": first, "text_pair": second, "both": [a + b for a, b in zip(first, second)]}


def _split_counts(examples: Examples, names: list[str]) -> dict:
    counts = Counter(examples.labels)
    total = len(examples)
    return {"examples": total, "counts": {name: counts[name] for name in names},
            "shares": {name: counts[name] / max(total, 1) for name in names}}


def _by_label(labels: Sequence[str], names: list[str], values: Sequence[float]) -> dict[str, list[float]]:
    grouped = {name: [] for name in names}
    for label, value in zip(labels, values):
        grouped[label].append(value)
    return grouped


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _per_label(labels, names, words, tokens, overlaps) -> dict[str, dict]:
    """{label: {"examples", "mean_words" (text + text_pair), "mean_tokens"?, "mean_overlap"?, "median_overlap"?}}:
    None for a label without examples."""
    total = words["both" if "both" in words else "text"]
    columns = {"mean_words": _by_label(labels, names, total)}
    if tokens is not None:
        columns["mean_tokens"] = _by_label(labels, names, tokens)
    if overlaps is not None:
        columns["mean_overlap"] = _by_label(labels, names, overlaps)
    per_label = {}
    for name in names:
        row = {"examples": len(columns["mean_words"][name])}
        row.update({column: _mean(grouped[name]) for column, grouped in columns.items()})
        if overlaps is not None:
            row["median_overlap"] = float(np.median(columns["mean_overlap"][name])) if row["examples"] else None
        per_label[name] = row
    return per_label


def _overlap_summary(labels: Sequence[str], names: list[str], overlaps: list[float]) -> dict:
    """Mean and median overlap; with two labels, its point-biserial r with the label (names[1] is 1)."""
    summary = {"mean": float(np.mean(overlaps)), "median": float(np.median(overlaps)), "point_biserial": None,
               "positive_label": None}
    if len(names) == 2:
        summary["positive_label"] = names[1]
        summary["point_biserial"] = point_biserial(overlaps, [int(label == names[1]) for label in labels])
    return summary


# ---------------------------------------------------------------- figures


def _colour(names: list[str], name: str) -> str:
    """One colour per label in every figure."""
    return f"C{names.index(name) % 10}"


def _label_ticks(axes, names: list[str]) -> None:
    crowded = sum(map(len, names)) > 24
    axes.set_xticks(range(len(names)), names, rotation=30 if crowded else 0, ha="right" if crowded else "center",
                    rotation_mode="anchor", parse_math=False)


def _label_balance_figure(splits: dict[str, dict], names: list[str], path: pathlib.Path) -> pathlib.Path:
    """One panel per split: examples per label, annotated with the count and the split's share."""
    figure = plots.new_figure(*LABEL_BALANCE_FIGSIZE)
    panels = figure.subplots(1, len(splits), squeeze=False)[0]
    for axes, (split, summary) in zip(panels, splits.items()):
        counts = [summary["counts"][name] for name in names]
        bars = axes.bar(range(len(names)), counts, color=[_colour(names, name) for name in names])
        axes.bar_label(bars, [f"{count}\n{summary['shares'][name]:.1%}" for count, name in zip(counts, names)],
                       fontsize=8)
        axes.margins(y=0.2)
        _label_ticks(axes, names)
        axes.set(title=f"{split} ({summary['examples']} examples)", ylabel="examples")
    return plots.save(figure, path)


def integer_bins(values: Sequence[int]) -> np.ndarray:
    """Histogram edges centred on whole numbers, at most MOST_BINS bins, each the same whole width."""
    low, high = int(min(values)), int(max(values))
    width = max(1, math.ceil((high - low + 1) / MOST_BINS))
    return np.arange(low, high + width + 1, width) - 0.5


def _histograms(axes, groups: dict[str, list[float]], bins, colours: dict[str, str] | None = None, *,
                shares: bool = False) -> None:
    """Step histograms of each non-empty group, its mean in the legend; as shares of the group when `shares`."""
    for name, values in groups.items():
        if values:
            weights = np.full(len(values), 1 / len(values)) if shares else None
            axes.hist(values, bins=bins, weights=weights, histtype="step", linewidth=1.5,
                      color=colours[name] if colours else None, label=f"{name} (mean {np.mean(values):.3g})")
    axes.legend(fontsize="small")


def _lengths_figure(labels, names, words, tokens, max_length: int, path: pathlib.Path) -> pathlib.Path:
    """Words per text; words per example by label; tokens per example with the max_length line (with tokens)."""
    figure = plots.new_figure(*(LENGTHS_FIGSIZE if tokens is None else LENGTHS_TOKENS_FIGSIZE))
    panels = figure.subplots(1, 2 if tokens is None else 3)
    texts = {"first text": words["text"], "second text": words["text_pair"]} if "both" in words else \
        {"text": words["text"]}
    _histograms(panels[0], texts, integer_bins([n for values in texts.values() for n in values]))
    panels[0].set(title="Words per text", xlabel="words", ylabel="examples")
    total = words["both" if "both" in words else "text"]
    _histograms(panels[1], _by_label(labels, names, total), integer_bins(total),
                {name: _colour(names, name) for name in names}, shares=True)
    panels[1].set(title="Words per example, by label" + (" (both texts)" if "both" in words else ""),
                  xlabel="words", ylabel="share of the label's examples")
    if tokens is not None:
        _tokens_axes(panels[2], tokens, max_length)
    return plots.save(figure, path)


def _tokens_axes(axes, tokens: list[int], max_length: int) -> None:
    over = sum(length > max_length for length in tokens) / len(tokens)
    axes.hist(tokens, bins=integer_bins(tokens))
    axes.axvline(max_length + 0.5, color="C3", linestyle="--", label=f"max_length {max_length}")
    axes.text(0.98, 0.8, f"{over:.1%} over {max_length} tokens\n(truncated)", ha="right", va="top",
              transform=axes.transAxes)
    axes.set(title="Tokens per example, as the model sees it", xlabel="tokens", ylabel="examples")
    axes.legend(fontsize="small")


def _overlap_figure(labels, names, overlaps, summary: dict, path: pathlib.Path) -> pathlib.Path:
    """Box plot of the overlap per label with the mean marked and printed; histograms per label."""
    grouped = {name: values for name, values in _by_label(labels, names, overlaps).items() if values}
    figure = plots.new_figure(*OVERLAP_FIGSIZE)
    boxes, histograms = figure.subplots(1, 2)
    boxes.boxplot(list(grouped.values()), positions=range(len(grouped)), showmeans=True)
    for position, values in enumerate(grouped.values()):
        boxes.annotate(f"mean {np.mean(values):.3f}", (position, 1.0), xytext=(0, 4), textcoords="offset points",
                       ha="center", va="bottom", fontsize=8)
    _label_ticks(boxes, list(grouped))
    boxes.set(title="Word overlap per label", ylabel="Jaccard overlap of the two texts", ylim=(-0.05, 1.15))
    _histograms(histograms, grouped, OVERLAP_BINS, {name: _colour(names, name) for name in grouped}, shares=True)
    histograms.set(title="Word overlap, by label", xlabel="Jaccard overlap", ylabel="share of the label's examples")
    if summary["point_biserial"] is not None:
        figure.suptitle(f"point-biserial r of overlap with label '{summary['positive_label']}': "
                        f"{summary['point_biserial']:.3f}")
    return plots.save(figure, path)


# ---------------------------------------------------------------- report


def analysis_sections(doc: "Doc", result: dict, output_dir: pathlib.Path, *, level: int = 2) -> None:
    """The analysis as report sections: label balance, lengths and overlap tables with their figures.
    `output_dir` is where `analyse_pairs` wrote the figures; it must lie under `doc.root`."""
    names = result["labels"]
    splits = [result["splits"][name] for name in _split_order(result["splits"])]
    doc.heading(level, "Data")
    doc.text(f"{result['examples']} examples, " + ("sentence pairs" if result["pairs"] else "single texts") +
             f", {len(names)} labels. Lengths and overlap are over all splits together.")
    doc.table(["label", *_split_order(result["splits"])],
              [[name, *(f"{split['counts'][name]} ({split['shares'][name]:.1%})" for split in splits)]
               for name in names] + [["all", *(split["examples"] for split in splits)]])
    doc.image(output_dir / result["images"]["label_balance"], "Examples per label and split")
    _lengths_section(doc, result, output_dir, level + 1)
    if result["pairs"]:
        _overlap_section(doc, result, output_dir, level + 1)


def _split_order(splits: dict) -> list[str]:
    """train, validation, test first, whatever order the dict has (analysis.json's keys are sorted)."""
    return sorted(splits, key=lambda name: SPLITS.index(name) if name in SPLITS else len(SPLITS))


def _lengths_section(doc: "Doc", result: dict, output_dir: pathlib.Path, level: int) -> None:
    doc.heading(level, "Lengths")
    stats = ("mean", "median", "p95", "max")
    rows = [[f"{column} (words)", *(result["words"][column][key] for key in stats)]
            for column in ("text", "text_pair", "both") if column in result["words"]]
    if "tokens" in result:
        rows.append(["both (tokens)", *(result["tokens"][key] for key in stats)])
    doc.table(["", *stats], rows)
    if "tokens" in result:
        doc.text(f"{result['tokens']['over_max_length']:.1%} of the examples are longer than "
                 f"max_length={result['tokens']['max_length']} tokens and are truncated.")
    columns = ["mean_words", *(["mean_tokens"] if "tokens" in result else [])]
    per_label = result["per_label"]
    doc.table(["label", "examples", *(key.replace("_", " ") for key in columns)],
              [[name, per_label[name]["examples"], *(per_label[name][key] for key in columns)]
               for name in result["labels"]])
    doc.image(output_dir / result["images"]["lengths"], "Lengths per text and per label")


def _overlap_section(doc: "Doc", result: dict, output_dir: pathlib.Path, level: int) -> None:
    overlap = result["overlap"]
    doc.heading(level, "Word overlap of the two texts")
    per_label = result["per_label"]
    doc.table(["label", "mean Jaccard", "median Jaccard"],
              [[name, per_label[name]["mean_overlap"], per_label[name]["median_overlap"]] for name in result["labels"]]
              + [["all", overlap["mean"], overlap["median"]]])
    if overlap["point_biserial"] is not None:
        doc.text(f"Point-biserial correlation of the overlap with the label '{overlap['positive_label']}': "
                 f"r = {overlap['point_biserial']:.3f}.")
    doc.image(output_dir / result["images"]["overlap"], "Word overlap (Jaccard) per label")
