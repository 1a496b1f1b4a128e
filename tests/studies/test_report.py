"""Reports: every number in report.md equals the one in the JSON file it came from; the HTML is self-contained;
the plots are real PNGs; directories that are not runs are refused."""

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from conftest import error_line
from tfft.runs import RunError
from tfft.studies.baselines import run_baseline
from tfft.studies.evaluation import EvalConfig, evaluate_run
from tfft.studies.report import MISTAKES_SHOWN, write_report


def _table(markdown: str, first_header: str) -> list[list[str]]:
    """The rows of the Markdown table whose header starts with `first_header`."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines[:-1]) if line.startswith(f"| {first_header} |")
                 and lines[i + 1].startswith("|---"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


@pytest.fixture(scope="module")
def reported_run(trained_runs, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("reported") / "run"
    shutil.copytree(trained_runs["classification"], run_dir)
    summary = json.loads((run_dir / "data_summary.json").read_text())
    summary.pop("sources", None)  # a run from before data_summary.json recorded where its splits came from
    (run_dir / "data_summary.json").write_text(json.dumps(summary))
    for kind in ("majority", "tfidf_logreg"):
        run_baseline(kind, run_dir)
    evaluate_run(EvalConfig(run_dir=str(run_dir), examples=3))
    write_report(run_dir)
    return run_dir


SOURCES = {"train": "data/wnut/wnut17train.conll", "validation": "data/wnut/emerging.dev.conll",
           "test": "carved from train: 10%, seed 0"}


@pytest.fixture(scope="module")
def reported_ner_run(trained_runs, tmp_path_factory):
    """The NER run, evaluated and reported, its data_summary.json naming the splits' sources (a carved test split)."""
    run_dir = tmp_path_factory.mktemp("reported-ner") / "run"
    shutil.copytree(trained_runs["ner"], run_dir)
    summary = json.loads((run_dir / "data_summary.json").read_text())
    (run_dir / "data_summary.json").write_text(json.dumps({**summary, "sources": SOURCES}))
    evaluate_run(EvalConfig(run_dir=str(run_dir), examples=2, errors=5))
    write_report(run_dir)
    return run_dir


class Elements(HTMLParser):
    """Every element of a page in document order: {"tag", "class", "style", "text" (nested text included),
    "section" (the text of the last h2 / h3 before it), "parents" (the elements around it)}."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self, page: str):
        super().__init__()
        self.elements, self.open, self.section = [], [], None
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        element = {"tag": tag, "class": attrs.get("class", ""), "style": attrs.get("style", ""), "text": "",
                   "section": self.section, "parents": list(self.open)}
        self.elements.append(element)
        if tag not in self.VOID:
            self.open.append(element)

    def handle_endtag(self, tag):
        element = self.open.pop()
        assert element["tag"] == tag, (element, tag)
        if tag in ("h2", "h3"):
            self.section = element["text"]

    def handle_data(self, data):
        for element in self.open:
            element["text"] += data

    def in_section(self, prefix: str) -> list[dict]:
        return [e for e in self.elements if (e["section"] or "").startswith(prefix)]


def test_run_report_numbers_come_from_the_json_files(reported_run):
    markdown = (reported_run / "report.md").read_text()
    rows = {row[0]: row for row in _table(markdown, "model")}
    assert set(rows) == {"fine-tuned (this run)", "baseline: majority", "baseline: tfidf_logreg"}
    for name, directory in (("fine-tuned (this run)", reported_run),
                            ("baseline: majority", reported_run / "baselines" / "majority"),
                            ("baseline: tfidf_logreg", reported_run / "baselines" / "tfidf_logreg")):
        test = json.loads((directory / "test_metrics.json").read_text())
        validation_file = "best_metrics.json" if name.startswith("fine") else "validation_metrics.json"
        validation = json.loads((directory / validation_file).read_text())
        expected = [validation["accuracy"], test["accuracy"], test["f1_macro"], test["precision_macro"],
                    test["recall_macro"]]
        assert [float(x) for x in rows[name][1:]] == pytest.approx(expected, abs=5e-5), name
    per_class = {row[0]: row for row in _table(markdown, "label")}
    test = json.loads((reported_run / "test_metrics.json").read_text())["per_class"]
    for label, scores in test.items():
        assert float(per_class[label][3]) == pytest.approx(scores["f1"], abs=5e-5)
        assert int(per_class[label][4]) == scores["support"]
    mistakes = json.loads((reported_run / "eval" / "test" / "errors.jsonl").read_text().splitlines()[0])
    assert mistakes["text"].replace("|", "\\|") in markdown


def test_run_report_plots_are_pngs_and_the_html_embeds_them(reported_run):
    from PIL import Image

    markdown = (reported_run / "report.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert {pathlib_name(p) for p in images} >= {"loss.png", "validation_metrics.png", "learning_rate.png",
                                                   "confusion.png", "predictions.png"}
    for relative in images:
        with Image.open(reported_run / relative) as image:
            assert image.format == "PNG" and image.width > 300
            assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 2  # not blank
    page = (reported_run / "report.html").read_text()
    # every plot embedded; the example predictions are the HTML rendering (probability bars) instead of the PNG
    assert page.count("data:image/png;base64,") == len(images) - 1 and 'class="bar' in page
    assert "report_files/" not in page and "<script" not in page


def pathlib_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def test_the_mistakes_are_html_marked_like_the_example_predictions(reported_run, reported_ner_run):
    """report.html draws errors.jsonl's mistakes as HTML, no Markdown: each number in bold with its place; a
    classification mistake with its gold and predicted label and their probability bars, an NER one with its gold
    and predicted entities marked (predicted ones not in gold marked wrong). report.md keeps the Markdown."""
    for run_dir in (reported_run, reported_ner_run):
        page = (run_dir / "report.html").read_text()
        assert "**" not in page
        lines = (run_dir / "eval" / "test" / "errors.jsonl").read_text().splitlines()
        mistakes = [json.loads(line) for line in lines][:MISTAKES_SHOWN]
        assert mistakes
        section = Elements(page).in_section("Most confident mistakes")
        captions = [e for e in section if e["class"] == "mistake"]
        assert [c["text"].split(" (")[0] for c in captions] == [f"#{m['index']}" for m in mistakes]
        assert [e["text"] for e in section if e["tag"] == "b" and e["parents"][-1] in captions] == [
            f"#{m['index']}" for m in mistakes]
        assert all(m["where"] in c["text"] for m, c in zip(mistakes, captions))
        markdown = (run_dir / "report.md").read_text()
        if "words" not in mistakes[0]:
            assert [e["text"] for e in section if e["tag"] == "b" and e["parents"][-1]["class"] == "labels"] == [
                label for m in mistakes for label in (m["gold"], m["predicted"])]
            assert [(e["class"], e["style"]) for e in section if e["class"].startswith("bar")] == [
                bar for m in mistakes for bar in (("bar", f"width: {100 * m['probability']:.1f}%"),
                                                  ("bar gold", f"width: {100 * m['gold_probability']:.1f}%"))]
            continue
        assert any(m["gold_entities"] for m in mistakes) and any(m["predicted_entities"] for m in mistakes)
        sentences = [e for e in section if e["class"] == "line"]
        assert len(sentences) == 2 * len(mistakes)
        for m, gold_line, predicted_line in zip(mistakes, sentences[::2], sentences[1::2]):
            gold = [(e["type"], e["text"]) for e in m["gold_entities"]]
            for line, row, spans in ((gold_line, "gold", m["gold_entities"]),
                                     (predicted_line, "predicted", m["predicted_entities"])):
                assert line["text"].startswith(row)
                marked = [e for e in section if e["tag"] == "mark" and line in e["parents"]]
                types = [next(t["text"] for t in section if t["tag"] == "span" and e in t["parents"]) for e in marked]
                assert [(kind, e["text"].removesuffix(f" {kind}"), e["class"]) for e, kind in zip(marked, types)] == [
                    (s["type"], s["text"], "entity" if (s["type"], s["text"]) in gold else "entity wrong")
                    for s in spans]
            assert f"- **#{m['index']}** ({m['where']}, confidence {m['confidence']:.3f})" in markdown


def test_the_splits_sources_are_shown_and_a_carved_test_split_is_flagged(reported_run, reported_ner_run):
    markdown = (reported_ner_run / "report.md").read_text()
    sizes = json.loads((reported_ner_run / "data_summary.json").read_text())["splits"]
    assert _table(markdown, "split") == [[split, str(sizes[split]["examples"]), source]
                                         for split, source in SOURCES.items()]
    warning = "test split carved from train: 10%, seed 0 — not an independent test set"
    assert f"**Warning: {warning}**" in markdown
    assert markdown.index("| model |") < markdown.index("| split |") < markdown.index("## Training curves")
    results = Elements((reported_ner_run / "report.html").read_text()).in_section("Results")
    assert [e["text"] for e in results if e["class"] == "warning"] == [f"Warning: {warning}"]
    assert set(SOURCES.values()) <= {e["text"] for e in results if e["tag"] == "td"}
    older = (reported_run / "report.md").read_text()  # no "sources" in its data_summary.json: nothing shown
    assert "| split |" not in older and "Warning" not in older
    assert not [e for e in Elements((reported_run / "report.html").read_text()).elements if e["class"] == "warning"]


@pytest.mark.slow
def test_a_sweep_report_ranks_the_runs_as_sweep_json(tiny_model, tmp_path):
    from conftest import tiny_run_config
    from tfft.studies.grid import SweepConfig, run_sweep

    # bottom:2 freezes both blocks of the tiny model: no gradient through the encoder (half a full run's time), and
    # all trains the head on cached features; the report is the same
    base = tiny_run_config(tiny_model, "classification", max_steps=2, eval_every=1)
    run_sweep(SweepConfig(base, "lr=1e-3,1e-2;freeze=bottom:2,all", str(tmp_path / "sweep")))
    markdown = write_report(tmp_path / "sweep")[0].read_text()
    table = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    rows = _table(markdown, "rank")
    assert [row[1:3] for row in rows] == [[str(r["params"]["lr"]), r["params"]["freeze"]] for r in table["runs"]]
    assert [float(row[3]) for row in rows] == pytest.approx([r["metric"] for r in table["runs"]], abs=5e-5)
    result = json.loads((tmp_path / "sweep" / "result.json").read_text())
    pick = _table(markdown, "pick")[0]
    assert pick[0] == result["pick"]["name"] and float(pick[2]) == pytest.approx(result["test"]["accuracy"], abs=5e-5)
    assert "![Validation accuracy vs lr](report_files/sweep_lr.png)" in markdown
    assert "![Best validation accuracy by freeze](report_files/sweep_bars.png)" in markdown


@pytest.mark.slow
def test_a_directory_that_is_not_a_run_is_refused(tmp_path):
    with pytest.raises(RunError, match="neither a tfft run directory"):
        write_report(tmp_path)
    result = subprocess.run([sys.executable, "-m", "tfft.report", f"--run_dir={tmp_path}"], capture_output=True,
                            text=True, timeout=300)
    assert error_line(result).startswith(f"error: {tmp_path} is neither a tfft run directory")
    assert not (tmp_path / "report.md").exists()
