"""Predictions rendered for people: self-contained HTML fragments and pages, and PNGs, of tfft's prediction
records (test_predictions.jsonl lines).

    classification / pair: {"text", "text_pair" (pair only), "gold", "predicted", "probabilities": {label: p}}
    NER: {"words": [...], "gold": [BIO tag per word], "predicted": [BIO tag per word]}

and of the most confident mistakes (errors.jsonl lines, `mistakes_html`): the same plus "index", "where" and
classification "probability", "gold_probability" (instead of "probabilities"), NER "confidence".

Entity spans come from `tfft.tasks.metrics.entities`, the same reading of BIO tags the NER metrics use, so a
span marked wrong here is exactly one the entity F1 counts as wrong. HTML and PNG share one colour per entity
type (`type_colours`). PNG figures have documented sizes in inches (`classification_figsize`, `ner_figsize`)
at `plots.DPI`.
"""

import html
import os
import pathlib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from tfft.studies.plots import new_figure, save
from tfft.tasks.metrics import entities

# Light tab20 shades: black text stays readable on every one of them.
PALETTE = ("#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5",
           "#c7c7c7")
GOLD_BAR, OTHER_BAR, WRONG = "#2ca02c", "#9e9e9e", "#d62728"
MAX_PNG_RECORDS = 50  # a PNG grows with the records; Agg refuses images taller than 2**16 pixels

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em; color: #222; }
.example { border-left: 4px solid #2ca02c; padding: 0.3em 0.8em; margin: 0.8em 0; }
.example.wrong { border-left-color: #d62728; }
.text { margin: 0.2em 0; }
.text-pair { color: #555; }
.labels { margin: 0.2em 0; font-size: 0.9em; }
.verdict { font-weight: bold; color: #2ca02c; }
.wrong .verdict { color: #d62728; }
table.probabilities { border-collapse: collapse; font-size: 0.85em; }
table.probabilities td { padding: 1px 6px; }
.track { width: 16em; background: #eee; }
.bar { height: 0.9em; background: #9e9e9e; }
.bar.gold { background: #2ca02c; }
.value { font-variant-numeric: tabular-nums; }
.legend { margin-bottom: 1em; }
.legend-type { padding: 0 0.4em; border-radius: 3px; margin-right: 0.4em; }
.legend-wrong { outline: 2px dashed #d62728; padding: 0 0.4em; }
.sentence { margin: 0.8em 0; line-height: 2; }
.row { display: inline-block; width: 6em; color: #777; font-size: 0.85em; }
mark.entity { padding: 0.1em 0.3em; border-radius: 3px; color: inherit; }
mark.entity.wrong { outline: 2px dashed #d62728; }
.type { font-size: 0.65em; font-weight: bold; vertical-align: middle; }
"""


def page(title: str, body_html: str, css: str = "") -> str:
    """A complete HTML document around a fragment: UTF-8, inline CSS (CSS plus `css`), nothing fetched, so it
    opens offline."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{CSS}{css}</style>\n</head>\n<body>\n"
            f"<h1>{html.escape(title)}</h1>\n{body_html}\n</body>\n</html>\n")


def type_colours(types: Iterable[str]) -> dict[str, str]:
    """{type: colour}, PALETTE assigned in sorted type order (cycling), so colours do not depend on which record
    comes first and the HTML and the PNG of the same records agree."""
    return {kind: PALETTE[i % len(PALETTE)] for i, kind in enumerate(sorted(set(types)))}


def _check(records: Sequence) -> None:
    if not records:
        raise ValueError("no prediction records to render")


def _shorten(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


# ---------------------------------------------------------------- classification and pair


def classification_html(records: Sequence[Mapping]) -> str:
    """Per example: the text(s), gold and predicted label with a correct/wrong verdict, one bar per label."""
    _check(records)
    return "\n".join(map(_classification_example, records))


def _classification_example(record: Mapping) -> str:
    verdict = "correct" if record["gold"] == record["predicted"] else "wrong"
    parts = [f'<div class="example {verdict}">', f'<p class="text">{html.escape(record["text"])}</p>']
    if "text_pair" in record:
        parts.append(f'<p class="text text-pair">{html.escape(record["text_pair"])}</p>')
    parts.append(f'<p class="labels">gold <b>{html.escape(record["gold"])}</b>, predicted '
                 f'<b>{html.escape(record["predicted"])}</b> <span class="verdict">{verdict}</span></p>')
    rows = [_probability_row(label, p, label == record["gold"]) for label, p in record["probabilities"].items()]
    parts += ['<table class="probabilities">', *rows, "</table>", "</div>"]
    return "\n".join(parts)


def _probability_row(label: str, probability: float, gold: bool) -> str:
    bar = "bar gold" if gold else "bar"
    return (f'<tr><td class="label">{html.escape(label)}</td><td class="track"><div class="{bar}" '
            f'style="width: {100 * probability:.1f}%"></div></td><td class="value">{probability:.3f}</td></tr>')


def classification_figsize(records: Sequence[Mapping]) -> tuple[float, float]:
    """(8, 0.5 + len(records) * (1 + 0.25 * labels)) inches, labels = the most labels of any record: a quarter
    inch per bar plus an inch for each subplot's two-line title; 0.5 for the figure title."""
    labels = max(len(record["probabilities"]) for record in records)
    return 8.0, 0.5 + len(records) * (1 + 0.25 * labels)


def classification_figure(records: Sequence[Mapping]) -> Figure:
    """One horizontal bar chart of label probabilities per example, the gold label's bar green and hatched."""
    _check(records)
    if len(records) > MAX_PNG_RECORDS:
        raise ValueError(f"{len(records)} records would make a huge image; pass at most {MAX_PNG_RECORDS} "
                         "(e.g. records[:20])")
    figure = new_figure(*classification_figsize(records))
    figure.suptitle("Predicted probabilities (gold label: green, hatched)")
    for axes, record in zip(figure.subplots(len(records), 1, squeeze=False)[:, 0], records):
        labels, probabilities = list(record["probabilities"]), list(record["probabilities"].values())
        bars = axes.barh(range(len(labels)), probabilities,
                         color=[GOLD_BAR if label == record["gold"] else OTHER_BAR for label in labels])
        for bar, label in zip(bars, labels):
            bar.set_hatch("//" if label == record["gold"] else "")
        axes.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
        axes.set_yticks(range(len(labels)), labels, fontsize=8, parse_math=False)
        axes.set_xlim(0, 1.1)
        axes.invert_yaxis()
        text = record["text"] + (f" / {record['text_pair']}" if "text_pair" in record else "")
        axes.set_title(f"{_shorten(text, 90)}\ngold: {record['gold']}, predicted: {record['predicted']}",
                       loc="left", fontsize=8, parse_math=False,
                       color="black" if record["gold"] == record["predicted"] else WRONG)
    return figure


def classification_png(records: Sequence[Mapping], path: str | os.PathLike) -> pathlib.Path:
    return save(classification_figure(records), path)


# ---------------------------------------------------------------- NER


def _spans(record: Mapping, key: str) -> list[tuple[str, int, int]]:
    if len(record[key]) != len(record["words"]):
        raise ValueError(f"{len(record['words'])} words but {len(record[key])} {key} tags: {record['words']}")
    return entities(record[key])


def _ner_spans(records: Sequence[Mapping]) -> tuple[list, dict[str, str]]:
    """[(gold spans, predicted spans)] per record, and the colours of every type they use."""
    _check(records)
    spans = [(_spans(record, "gold"), _spans(record, "predicted")) for record in records]
    return spans, type_colours(kind for pair in spans for side in pair for kind, _, _ in side)


def ner_html(records: Sequence[Mapping]) -> str:
    """A legend of types, then per sentence a "gold" and a "predicted" line with each entity a coloured <mark>;
    predicted spans that are not exactly a gold span (type, start, end) get the class "wrong"."""
    spans, colours = _ner_spans(records)
    return "\n".join([_ner_legend(colours), *(_ner_sentence(record, gold, predicted, colours)
                                               for record, (gold, predicted) in zip(records, spans))])


def _ner_legend(colours: Mapping[str, str]) -> str:
    legend = "".join(f'<span class="legend-type" style="background: {colour}">{html.escape(kind)}</span>'
                     for kind, colour in colours.items()) or "no entities "
    return f'<div class="legend">{legend}<span class="legend-wrong">predicted span not in gold</span></div>'


def _ner_sentence(record: Mapping, gold: list, predicted: list, colours: Mapping[str, str]) -> str:
    return (f'<div class="sentence">\n<div class="line"><span class="row">gold</span> '
            f'{_marked(record["words"], gold, colours, set(gold))}</div>\n'
            f'<div class="line"><span class="row">predicted</span> '
            f'{_marked(record["words"], predicted, colours, set(gold))}</div>\n</div>')


def _marked(words: Sequence[str], spans: Sequence[tuple[str, int, int]], colours: Mapping[str, str],
            gold: set) -> str:
    """The words with each span as a <mark>; spans not in `gold` are marked "wrong" (never true for gold)."""
    starts = {start: (kind, end) for kind, start, end in spans}
    out, i = [], 0
    while i < len(words):
        if i not in starts:
            out.append(html.escape(words[i]))
            i += 1
            continue
        kind, end = starts[i]
        css = "entity" if (kind, i, end) in gold else "entity wrong"
        out.append(f'<mark class="{css}" style="background: {colours[kind]}">{html.escape(" ".join(words[i:end]))}'
                   f' <span class="type">{html.escape(kind)}</span></mark>')
        i = end
    return " ".join(out)


# ---------------------------------------------------------------- mistakes


def mistakes_html(mistakes: Sequence[Mapping]) -> str:
    """The most confident mistakes, each under its number (bold), where it comes from and how sure the model was,
    drawn as the examples are: a classification example with the bars of its predicted and its gold label; an NER
    sentence with its gold and predicted spans marked, below one legend of types."""
    if not mistakes:
        return "<p>No mistakes.</p>"
    if "words" in mistakes[0]:
        spans, colours = _ner_spans(mistakes)
        parts = [_ner_legend(colours)]
        for mistake, (gold, predicted) in zip(mistakes, spans):
            parts.append(_mistake_caption(mistake, f"confidence {mistake['confidence']:.3f}")
                         + _ner_sentence(mistake, gold, predicted, colours))
        return "\n".join(parts)
    parts = []
    for mistake in mistakes:
        predicted, gold = mistake["probability"], mistake["gold_probability"]
        parts.append(_mistake_caption(mistake, f"p(predicted) {predicted:.3f}, p(gold) {gold:.3f}")
                     + _classification_example({**mistake, "probabilities": {mistake["predicted"]: predicted,
                                                                            mistake["gold"]: gold}}))
    return "\n".join(parts)


def _mistake_caption(mistake: Mapping, confidence: str) -> str:
    return f'<p class="mistake"><b>#{mistake["index"]}</b> ({html.escape(mistake["where"])}, {confidence})</p>\n'


# NER PNG layout, in inches. Words are set in DejaVu Sans Mono 10 pt (matplotlib's bundled monospace), whose
# advance is 0.602 em = 0.0836 in per character; CHAR_WIDTH rounds it up so the estimate never falls short and
# a wrapped line never runs past the right margin. East Asian wide characters count twice.
NER_WIDTH, MARGIN, ROW, GAP, LEFT = 10.0, 0.25, 0.25, 0.25, 1.25
FONT_SIZE, CHAR_WIDTH = 10, 0.09
LINE_WIDTH = NER_WIDTH - LEFT - MARGIN  # room for words right of the row labels ("gold", "predicted")
WORD_GAP = 2 * CHAR_WIDTH  # a space plus room for the span boxes' padding


def _width(text: str) -> float:
    return CHAR_WIDTH * sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _fit(word: str) -> str:
    """`word`, cut with an ellipsis if even a line of its own is too narrow for it."""
    while _width(word) > LINE_WIDTH:
        word = word[:-2] + "…"
    return word


def wrap(texts: Sequence[str]) -> list[list[tuple[int, float]]]:
    """Lines of (index into texts, x offset in inches from the line start), filled greedily within LINE_WIDTH.
    Gold and predicted rows of a sentence share these lines, so the same word sits at the same place in both."""
    lines: list[list[tuple[int, float]]] = [[]]
    x = 0.0
    for i, text in enumerate(texts):
        if lines[-1] and x + _width(text) > LINE_WIDTH:
            lines.append([])
            x = 0.0
        lines[-1].append((i, x))
        x += _width(text) + WORD_GAP
    return lines


def _legend_texts(colours: Mapping[str, str]) -> list[str]:
    return [*colours, "predicted span not in gold"]


def ner_figsize(records: Sequence[Mapping]) -> tuple[float, float]:
    """(10, 2 * MARGIN + ROW * legend lines + sum over sentences of (GAP + 2 * ROW * lines)) inches, the lines
    counted by `wrap` (one legend line for a few types; one line per sentence up to about 94 characters)."""
    _, colours = _ner_spans(records)
    height = 2 * MARGIN + ROW * len(wrap(_legend_texts(colours)))
    for record in records:
        height += GAP + 2 * ROW * len(wrap([_fit(word) for word in record["words"]]))
    return NER_WIDTH, height


def ner_figure(records: Sequence[Mapping]) -> Figure:
    """Per sentence, "gold" and "predicted" rows of words, entity spans boxed in their type's colour, predicted
    spans not in gold outlined dashed red; long sentences wrap onto more rows. A legend row of types on top."""
    if len(records) > MAX_PNG_RECORDS:
        raise ValueError(f"{len(records)} records would make a huge image; pass at most {MAX_PNG_RECORDS} "
                         "(e.g. records[:20])")
    spans, colours = _ner_spans(records)
    width, height = ner_figsize(records)
    figure = new_figure(width, height)
    top = height - MARGIN  # y of the next row's top edge, inches from the bottom
    # The legend is drawn as a row of one-word spans: each type in its colour, then the "wrong" outline.
    legend = _legend_texts(colours)
    legend_spans = [(kind, i, i + 1) for i, kind in enumerate(colours)] + [("", len(colours), len(legend))]
    top = _draw_rows(figure, top, ["types"], legend, [(legend_spans, set(legend_spans[:-1]))],
                     {**colours, "": "white"})
    for record, (gold, predicted) in zip(records, spans):
        words = [_fit(word) for word in record["words"]]
        top = _draw_rows(figure, top - GAP, ("gold", "predicted"), words,
                         [(gold, set(gold)), (predicted, set(gold))], colours)
    return figure


def _draw_rows(figure: Figure, top: float, names: Sequence[str], words: Sequence[str],
               rows: Sequence[tuple[list, set]], colours: Mapping[str, str]) -> float:
    """Draws `words` once per row (name, (spans, correct spans)) on every wrapped line; returns the new top."""
    for line in wrap(words):
        x_of = dict(line)
        for name, (spans, correct) in zip(names, rows):
            middle = top - ROW / 2
            _text(figure, MARGIN, middle, name, color="#777777")
            for kind, start, end in spans:
                _box(figure, [i for i in range(start, end) if i in x_of], x_of, words, middle,
                     colours[kind], (kind, start, end) in correct)
            for i, x in line:
                _text(figure, LEFT + x, middle, words[i])
            top -= ROW
    return top


def _box(figure: Figure, indices: Sequence[int], x_of: Mapping[int, float], words: Sequence[str], middle: float,
         colour: str, correct: bool) -> None:
    """A rounded box behind the part of a span on this line (nothing if the span is on another line)."""
    if not indices:
        return
    left = LEFT + x_of[indices[0]]
    right = LEFT + x_of[indices[-1]] + _width(words[indices[-1]])
    figure.add_artist(FancyBboxPatch(
        (left, middle - ROW * 0.35), right - left, ROW * 0.7, boxstyle="round,pad=0.03",
        transform=figure.dpi_scale_trans, facecolor=colour, edgecolor=colour if correct else WRONG,
        linestyle="-" if correct else "--", linewidth=1.2))


def _text(figure: Figure, x: float, y: float, text: str, **style) -> None:
    figure.text(x, y, text, transform=figure.dpi_scale_trans, fontfamily="monospace", fontsize=FONT_SIZE,
                va="center_baseline", ha="left", parse_math=False, **style)


def ner_png(records: Sequence[Mapping], path: str | os.PathLike) -> pathlib.Path:
    return save(ner_figure(records), path)
