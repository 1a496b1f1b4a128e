"""Predictions rendered for people: HTML escaping, bar widths, entity marks against hand-written spans, and the
PNGs' sizes, colours and wrapping."""

import re

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from conftest import assert_png
from tfft.studies import render

CLASSIFICATION = [
    {"text": "a gripping film <script>alert(1)</script> for $5", "gold": "positive", "predicted": "negative",
     "probabilities": {"negative": 0.8, "positive": 0.2}},
    {"text": "dull " * 40, "text_pair": "and overlong & slow", "gold": "negative", "predicted": "negative",
     "probabilities": {"negative": 0.91234, "positive": 0.08766}},
]
NER = [
    {"words": ["John", "Smith", "lives", "in", "Paris"], "gold": ["B-PER", "I-PER", "O", "O", "B-LOC"],
     "predicted": ["B-PER", "I-PER", "O", "O", "B-ORG"]},
    {"words": ["<b>Ann</b>", "met", "John", "in", "New", "York"],
     "gold": ["B-PER", "O", "B-PER", "O", "B-LOC", "I-LOC"], "predicted": ["B-PER", "O", "B-PER", "O", "B-LOC", "O"]},
]
MARK = re.compile(r'<mark class="([^"]*)" style="background: ([^"]*)">(.*?) <span class="type">([^<]*)</span></mark>')


def has_colour(pixels, colour) -> bool:
    return bool(np.any(np.all(np.abs(pixels - np.asarray(to_rgb(colour))) < 2 / 255, axis=-1)))


def marks(fragment: str, row: str) -> list[tuple[str, str, str, str]]:
    """(class, background, words, type) of each <mark> on the sentence lines named `row`, in order."""
    lines = re.findall(rf'<span class="row">{row}</span>(.*?)</div>', fragment)
    return [found for line in lines for found in MARK.findall(line)]


def test_page_is_self_contained():
    document = render.page("Errors <of> run", "<p>body</p>")
    assert document.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in document
    assert f"<style>{render.CSS}</style>" in document and "<p>body</p>" in document
    assert "<title>Errors &lt;of&gt; run</title>" in document
    assert not re.search(r"https?://|<link|<script|src=", document)


def test_classification_html_escapes_and_draws_each_probability():
    fragment = render.classification_html(CLASSIFICATION)
    assert "<script>" not in fragment and "&lt;script&gt;alert(1)&lt;/script&gt;" in fragment
    assert "and overlong &amp; slow" in fragment
    bars = re.findall(r'<div class="(bar(?: gold)?)" style="width: ([0-9.]+)%"></div></td><td class="value">'
                      r"([0-9.]+)</td>", fragment)
    assert bars == [("bar", "80.0", "0.800"), ("bar gold", "20.0", "0.200"),
                    ("bar gold", "91.2", "0.912"), ("bar", "8.8", "0.088")]
    assert re.findall(r'<div class="example (\w+)">', fragment) == ["wrong", "correct"]


def test_classification_png(tmp_path):
    pixels = assert_png(render.classification_png(CLASSIFICATION, tmp_path / "c.png"), (8, 0.5 + 2 * (1 + 0.25 * 2)))
    assert has_colour(pixels, render.GOLD_BAR) and has_colour(pixels, render.OTHER_BAR)
    three = [*CLASSIFICATION, {**CLASSIFICATION[0], "probabilities": {"a": 0.5, "b": 0.3, "c": 0.2}}]
    assert_png(render.classification_png(three, tmp_path / "3.png"), (8, 0.5 + 3 * (1 + 0.25 * 3)))


def test_ner_html_marks_exactly_the_gold_and_predicted_spans():
    fragment = render.ner_html(NER)
    colours = render.type_colours(["LOC", "ORG", "PER"])
    assert colours == {"LOC": render.PALETTE[0], "ORG": render.PALETTE[1], "PER": render.PALETTE[2]}
    per, loc, org = colours["PER"], colours["LOC"], colours["ORG"]
    assert marks(fragment, "gold") == [
        ("entity", per, "John Smith", "PER"), ("entity", loc, "Paris", "LOC"),
        ("entity", per, "&lt;b&gt;Ann&lt;/b&gt;", "PER"), ("entity", per, "John", "PER"),
        ("entity", loc, "New York", "LOC")]
    assert marks(fragment, "predicted") == [
        ("entity", per, "John Smith", "PER"), ("entity wrong", org, "Paris", "ORG"),  # wrong type
        ("entity", per, "&lt;b&gt;Ann&lt;/b&gt;", "PER"), ("entity", per, "John", "PER"),
        ("entity wrong", loc, "New", "LOC")]  # wrong end
    assert "<b>Ann" not in fragment
    assert " York</div>" in fragment  # outside any predicted entity: plain
    legend = re.findall(r'<span class="legend-type" style="background: ([^"]*)">(\w+)</span>', fragment)
    assert legend == [(loc, "LOC"), (org, "ORG"), (per, "PER")]


def test_ner_refuses_tags_that_do_not_match_the_words(tmp_path):
    bad = [{**NER[0], "predicted": ["O"]}]
    with pytest.raises(ValueError, match="5 words but 1 predicted"):
        render.ner_html(bad)
    with pytest.raises(ValueError, match="5 words but 1 predicted"):
        render.ner_png(bad, tmp_path / "n.png")


def test_nothing_to_render_is_an_error(tmp_path):
    for call in (render.classification_html, render.ner_html):
        with pytest.raises(ValueError, match="no prediction records"):
            call([])
    for call in (render.classification_png, render.ner_png):
        with pytest.raises(ValueError, match="no prediction records"):
            call([], tmp_path / "x.png")
    with pytest.raises(ValueError, match="at most"):
        render.classification_png(CLASSIFICATION * 30, tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


def test_wrap_fills_lines_within_the_width():
    # each 4-letter word takes 4 * 0.09 in plus a 0.18 in gap: 16 words start within 8.5 - 0.36 in
    lines = render.wrap(["word"] * 60)
    assert [len(line) for line in lines] == [16, 16, 16, 12]
    assert [i for line in lines for i, _ in line] == list(range(60))
    assert all(x + 4 * render.CHAR_WIDTH <= render.LINE_WIDTH for line in lines for _, x in line)
    assert render.wrap(["a" * 200, "b"]) == [[(0, 0.0)], [(1, 0.0)]]  # an over-long word alone on its line


def test_ner_png_size_and_colours(tmp_path):
    # 2 margins + a legend line, then per one-line sentence a gap and two rows
    pixels = assert_png(render.ner_png(NER, tmp_path / "n.png"), (10, 0.5 + 0.25 + 2 * (0.25 + 2 * 0.25)))
    assert all(has_colour(pixels, colour) for colour in render.type_colours(["LOC", "ORG", "PER"]).values())
    assert has_colour(pixels, render.WRONG)


def test_ner_png_wraps_long_sentences_inside_the_figure(tmp_path):
    long = {"words": ["Word"] * 59 + ["x" * 300], "gold": ["B-MISC"] + ["I-MISC"] * 20 + ["O"] * 39,
            "predicted": ["O"] * 60}
    # 59 short words -> 4 lines (16, 16, 16, 11), the over-long one cut to fit a fifth line of its own
    assert render.ner_figsize([long]) == (10, 0.5 + 0.25 + 0.25 + 2 * 0.25 * 5)
    figure = render.ner_figure([long])
    renderer = figure.canvas.get_renderer()
    page = figure.bbox
    for artist in [*figure.texts, *figure.artists]:
        box = artist.get_window_extent(renderer)
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, artist
    assert any(text.get_text().endswith("…") for text in figure.texts)
    assert_png(render.ner_png([long], tmp_path / "long.png"), render.ner_figsize([long]))


def test_mistakes_html_captions_each_mistake_and_marks_it_like_the_examples():
    ner = [{**record, "index": i, "where": f"dev.conll:{3 + i}", "confidence": 0.9 - i / 10}
           for i, record in enumerate(NER)]
    fragment = render.mistakes_html(ner)
    assert re.findall(r'<p class="mistake"><b>#(\d+)</b> \(([^,]+), confidence ([0-9.]+)\)</p>', fragment) == [
        ("0", "dev.conll:3", "0.900"), ("1", "dev.conll:4", "0.800")]
    assert marks(fragment, "gold") == marks(render.ner_html(NER), "gold")  # the examples' marks, hand-checked above
    assert marks(fragment, "predicted") == marks(render.ner_html(NER), "predicted")
    assert fragment.count('class="legend"') == 1 and "**" not in fragment
    wrong = {**CLASSIFICATION[0], "index": 7, "where": "test.csv:9", "probability": 0.8, "gold_probability": 0.2}
    del wrong["probabilities"]
    fragment = render.mistakes_html([wrong])
    assert '<p class="mistake"><b>#7</b> (test.csv:9, p(predicted) 0.800, p(gold) 0.200)</p>' in fragment
    assert "gold <b>positive</b>, predicted <b>negative</b>" in fragment and "&lt;script&gt;" in fragment
    assert re.findall(r'<div class="(bar(?: gold)?)" style="width: ([0-9.]+)%">', fragment) == [
        ("bar", "80.0"), ("bar gold", "20.0")]
    assert render.mistakes_html([]) == "<p>No mistakes.</p>"
