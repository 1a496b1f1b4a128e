"""Reports: every number in report.md equals the one in the JSON file it came from; the HTML is self-contained;
the plots are real PNGs; directories that are not runs are refused."""

import json
import re
import shutil
import subprocess
import sys

import pytest

from conftest import error_line
from tfft.runs import RunError
from tfft.studies.baselines import run_baseline
from tfft.studies.evaluation import EvalConfig, evaluate_run
from tfft.studies.report import write_report


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
    for kind in ("majority", "tfidf_logreg"):
        run_baseline(kind, run_dir)
    evaluate_run(EvalConfig(run_dir=str(run_dir), examples=3))
    write_report(run_dir)
    return run_dir


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


def test_a_sweep_report_ranks_the_runs_as_sweep_json(tiny_model, tmp_path):
    from conftest import tiny_run_config
    from tfft.studies.grid import SweepConfig, run_sweep

    base = tiny_run_config(tiny_model, "classification", max_steps=2, eval_every=1)
    run_sweep(SweepConfig(base, "lr=1e-3,1e-2;freeze=none,all", str(tmp_path / "sweep")))
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


def test_a_directory_that_is_not_a_run_is_refused(tmp_path):
    with pytest.raises(RunError, match="neither a tfft run directory"):
        write_report(tmp_path)
    result = subprocess.run([sys.executable, "-m", "tfft.report", f"--run_dir={tmp_path}"], capture_output=True,
                            text=True, timeout=300)
    assert error_line(result).startswith(f"error: {tmp_path} is neither a tfft run directory")
    assert not (tmp_path / "report.md").exists()
