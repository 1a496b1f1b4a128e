"""Data analysis: the helpers against hand-computed values; analyse_pairs on a hand-built data set (its numbers
worked out by hand below, its PNGs of the documented pixel sizes), with the real tokenizer, on single texts; and the
report sections."""

import json

import numpy as np
import pytest
import scipy.stats

from conftest import assert_png
from tfft.data import Data, Examples, LabelSpace
from tfft.studies import analysis
from tfft.studies.report import Doc
from tfft.tasks import TASKS


@pytest.mark.parametrize("a, b, expected", [
    ("The cat sat.", "the CAT sat", 1.0),  # case and trailing punctuation ignored
    ("Hello, world!", "hello there world", 2 / 3),
    ("don't stop", "dont stop", 1 / 3),  # inner punctuation kept: {don't, stop} vs {dont, stop}
    ("U.S. troops", "u.s troops", 1.0),
    ("Yes -- no", "yes", 1 / 2),  # "--" is no word
    ("a", "", 0.0),
    ("", "", 0.0),  # empty union
    ("...", "-- !", 0.0),  # only punctuation: empty union too
])
def test_jaccard_by_hand(a, b, expected):
    assert analysis.jaccard(a, b) == pytest.approx(expected)
    assert analysis.jaccard(b, a) == pytest.approx(expected)


def test_word_set_and_word_lengths():
    assert analysis.word_set("  (Hello) HELLO, _world_ -- 42% ") == {"hello", "world", "42"}
    assert analysis.word_lengths(["a b  c", "", "  x\ty\n", "Yes -- no"]) == [3, 0, 2, 3]


def test_length_stats_by_hand():
    stats = analysis.length_stats([1, 2, 3, 4, 100])
    # p95: position 0.95 * 4 = 3.8 between 4 and 100
    assert stats == pytest.approx({"mean": 22.0, "median": 3.0, "p95": 4 + 0.8 * 96, "max": 100})
    assert type(stats["max"]) is int
    assert analysis.length_stats([2, 4]) == pytest.approx({"mean": 3.0, "median": 3.0, "p95": 3.9, "max": 4})
    with pytest.raises(ValueError, match="empty"):
        analysis.length_stats([])


def test_point_biserial_is_undefined_for_a_constant():
    assert analysis.point_biserial([0.5, 0.5, 0.5], [0, 1, 1]) is None
    assert analysis.point_biserial([0.1, 0.5, 0.9], [1, 1, 1]) is None


# (text, text_pair, label, Jaccard overlap worked out by hand, words of text, words of text_pair)
PAIRS = {
    "train": [("The cat sat.", "the cat sat", "same", 1.0, 3, 3),
              ("A dog barked", "The cat sat", "different", 0.0, 3, 3),
              ("Hello, world!", "hello there world", "same", 2 / 3, 2, 3),
              ("It rains", "Sun shines today", "different", 0.0, 2, 3)],
    "validation": [("Big red ball", "big blue ball", "same", 2 / 4, 3, 3),
                   ("One two", "two three four", "different", 1 / 4, 2, 3)],
    "test": [("Yes -- no", "yes", "same", 1 / 2, 3, 1),
             ("x y z w v", "a", "different", 0.0, 5, 1)],
}
ROWS = [row for rows in PAIRS.values() for row in rows]


def pair_data(rows_by_split=PAIRS, names=("different", "same")) -> Data:
    splits = {split: Examples(labels=[r[2] for r in rows], where=[""] * len(rows), texts=[r[0] for r in rows],
                              text_pairs=[r[1] for r in rows]) for split, rows in rows_by_split.items()}
    return Data(TASKS["pair"], splits, LabelSpace(names))


def test_analyse_pairs_by_hand(tmp_path):
    result = analysis.analyse_pairs(pair_data(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis.json", "label_balance.png", "lengths.png",
                                                          "overlap.png"]
    assert_png(tmp_path / "label_balance.png", (12.0, 4.0))
    assert_png(tmp_path / "lengths.png", (10.0, 4.5))
    assert_png(tmp_path / "overlap.png", (12.0, 4.5))
    assert json.loads((tmp_path / "analysis.json").read_text(encoding="utf-8")) == result
    assert result["images"] == {"label_balance": "label_balance.png", "lengths": "lengths.png",
                                "overlap": "overlap.png"}

    assert result["labels"] == ["different", "same"] and result["examples"] == 8 and result["pairs"]
    assert result["splits"] == {
        "train": {"examples": 4, "counts": {"different": 2, "same": 2}, "shares": {"different": 0.5, "same": 0.5}},
        "validation": {"examples": 2, "counts": {"different": 1, "same": 1},
                       "shares": {"different": 0.5, "same": 0.5}},
        "test": {"examples": 2, "counts": {"different": 1, "same": 1}, "shares": {"different": 0.5, "same": 0.5}}}

    # text words 3 3 2 2 3 2 3 5: sorted 2 2 2 3 3 3 3 5, p95 at position 6.65 -> 3 + 0.65 * 2
    assert result["words"]["text"] == pytest.approx({"mean": 23 / 8, "median": 3.0, "p95": 4.3, "max": 5})
    # text_pair words 3 3 3 3 3 3 1 1
    assert result["words"]["text_pair"] == pytest.approx({"mean": 20 / 8, "median": 3.0, "p95": 3.0, "max": 3})
    # both: 6 6 5 5 6 5 4 6 -> sorted 4 5 5 5 6 6 6 6
    assert result["words"]["both"] == pytest.approx({"mean": 43 / 8, "median": 5.5, "p95": 6.0, "max": 6})
    assert "tokens" not in result

    same, different = result["per_label"]["same"], result["per_label"]["different"]
    assert same == pytest.approx({"examples": 4, "mean_words": (6 + 5 + 6 + 4) / 4,
                                  "mean_overlap": (1 + 2 / 3 + 1 / 2 + 1 / 2) / 4,
                                  "median_overlap": (1 / 2 + 2 / 3) / 2})
    assert different == pytest.approx({"examples": 4, "mean_words": (6 + 5 + 5 + 6) / 4,
                                       "mean_overlap": 1 / 16, "median_overlap": 0.0})

    overlaps = np.array([r[3] for r in ROWS])
    binary = np.array([r[2] == "same" for r in ROWS], dtype=np.float64)
    overlap = result["overlap"]
    assert overlap["mean"] == pytest.approx(overlaps.mean()) and overlap["median"] == pytest.approx(0.375)
    assert overlap["positive_label"] == "same"
    assert overlap["point_biserial"] == pytest.approx(np.corrcoef(overlaps, binary)[0, 1])
    assert overlap["point_biserial"] == pytest.approx(scipy.stats.pointbiserialr(binary, overlaps).statistic)


def test_word_counts_match_the_hand_table():
    """The hand-computed columns of PAIRS are themselves right (whitespace words, Jaccard of the word sets)."""
    for text, text_pair, _, overlap, first, second in ROWS:
        assert (len(text.split()), len(text_pair.split())) == (first, second)
        assert analysis.jaccard(text, text_pair) == pytest.approx(overlap)


def test_three_labels_have_no_point_biserial(tmp_path):
    rows = {split: [(a, b, "maybe" if i == 0 else label, j, m, n) for i, (a, b, label, j, m, n) in enumerate(rows)]
            for split, rows in PAIRS.items()}
    result = analysis.analyse_pairs(pair_data(rows, ("different", "same", "maybe")), tmp_path)
    assert result["overlap"]["point_biserial"] is None and result["overlap"]["positive_label"] is None
    assert result["per_label"]["maybe"]["examples"] == 3
    assert_png(tmp_path / "overlap.png", analysis.OVERLAP_FIGSIZE)


def test_analyse_pairs_with_the_real_tokenizer(tmp_path, minilm_dir, monkeypatch):
    from tfft.tokenization import load_tokenizer

    tokenizer = load_tokenizer(minilm_dir)
    monkeypatch.setattr(analysis, "TOKENIZER_CHUNK", 3)  # several chunks, the last one short
    result = analysis.analyse_pairs(pair_data(), tmp_path, tokenizer=tokenizer, max_length=9)
    assert_png(tmp_path / "lengths.png", (15.0, 4.5))

    lengths = np.array([len(tokenizer(r[0], r[1])["input_ids"]) for r in ROWS])
    assert lengths.min() <= 9 < lengths.max()  # the max_length line cuts through the data
    tokens = result["tokens"]
    assert tokens["max_length"] == 9
    assert tokens["over_max_length"] == pytest.approx(np.mean(lengths > 9))
    assert tokens["mean"] == pytest.approx(lengths.mean()) and tokens["max"] == lengths.max()
    assert tokens["median"] == pytest.approx(np.median(lengths))
    for name in ("same", "different"):
        chosen = [length for length, r in zip(lengths, ROWS) if r[2] == name]
        assert result["per_label"][name]["mean_tokens"] == pytest.approx(np.mean(chosen))


def test_single_texts(tmp_path):
    texts = {"train": [("good film", "pos"), ("bad, bad film", "neg"), ("great", "pos")],
             "validation": [("not good at all", "neg")], "test": [("fine", "pos")]}
    splits = {split: Examples(labels=[label for _, label in rows], where=[""] * len(rows),
                              texts=[text for text, _ in rows]) for split, rows in texts.items()}
    data = Data(TASKS["classification"], splits, LabelSpace(("neg", "pos", "unused")))
    result = analysis.analyse_pairs(data, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis.json", "label_balance.png", "lengths.png"]
    assert_png(tmp_path / "label_balance.png", analysis.LABEL_BALANCE_FIGSIZE)
    assert_png(tmp_path / "lengths.png", analysis.LENGTHS_FIGSIZE)
    assert not result["pairs"] and "overlap" not in result and "overlap" not in result["images"]
    assert list(result["words"]) == ["text"]
    assert result["words"]["text"] == pytest.approx({"mean": 11 / 5, "median": 2.0, "p95": 3.8, "max": 4})
    assert result["per_label"] == {"neg": {"examples": 2, "mean_words": 3.5},
                                   "pos": {"examples": 3, "mean_words": pytest.approx(4 / 3)},
                                   "unused": {"examples": 0, "mean_words": None}}
    assert result["splits"]["train"]["counts"] == {"neg": 1, "pos": 2, "unused": 0}
    assert result["splits"]["train"]["shares"] == pytest.approx({"neg": 1 / 3, "pos": 2 / 3, "unused": 0.0})


def test_ner_data_is_refused(tmp_path):
    examples = Examples(labels=[["O", "B-PER"]], where=[""], words=[["hi", "Ann"]])
    data = Data(TASKS["ner"], {"train": examples, "validation": examples, "test": examples},
                LabelSpace(("O", "B-PER")))
    with pytest.raises(ValueError, match="NER"):
        analysis.analyse_pairs(data, tmp_path)
    assert not list(tmp_path.iterdir())


def test_analysis_sections(tmp_path, minilm_dir):
    from tfft.tokenization import load_tokenizer

    out = tmp_path / "report_files" / "data"
    result = analysis.analyse_pairs(pair_data(), out, tokenizer=load_tokenizer(minilm_dir), max_length=9)
    doc = Doc(tmp_path)
    analysis.analysis_sections(doc, result, out)
    markdown = "\n\n".join(doc.md)
    assert markdown.startswith("## Data\n\n8 examples, sentence pairs, 2 labels.")
    assert "| label | train | validation | test |" in markdown
    assert "| same | 2 (50.0%) | 1 (50.0%) | 1 (50.0%) |" in markdown
    assert "| text (words) | 2.8750 | 3.0000 | 4.3000 | 5 |" in markdown
    assert f"{result['tokens']['over_max_length']:.1%} of the examples are longer than max_length=9" in markdown
    assert "| same | 0.6667 | 0.5833 |" in markdown and "| different | 0.0625 | 0.0000 |" in markdown
    assert f"r = {result['overlap']['point_biserial']:.3f}" in markdown
    for name in ("label_balance", "lengths", "overlap"):
        assert f"](report_files/data/{name}.png)" in markdown
    assert sum("data:image/png;base64," in block for block in doc.html) == 3

    from_json = Doc(tmp_path)  # the same sections from analysis.json (its keys sorted)
    analysis.analysis_sections(from_json, json.loads((out / "analysis.json").read_text(encoding="utf-8")), out)
    assert from_json.md == doc.md
