"""report.md and a self-contained report.html for a run or a sweep, from the files they wrote (never from
numbers typed in): the setup, the fine-tuned model against every baseline that was run, where each split came
from (a test split carved from another flagged), training curves, per-class scores, the confusion matrix, the most
confident mistakes and rendered predictions; for a sweep the ranked runs, the sweep plots and the tested pick.

Both documents are built from one list of blocks; the plots go to DIR/report_files/ (linked from the Markdown,
embedded as data URIs in the HTML, so report.html can be mailed alone). The Markdown links the evaluation's own
predictions.png and lists the mistakes as errors.md does; the HTML draws both as HTML, labels and spans highlighted.
"""

import base64
import html
import json
import pathlib

from tfft import files
from tfft.config import METRICS, MINIMISED, TrainConfig
from tfft.runs import RunError, read_json, read_metrics_log, read_run, test_metrics, validation_metrics
from tfft.studies import plots, render
from tfft.studies.evaluation import errors_markdown

HEADLINE = {"classification": ("accuracy", "f1_macro", "precision_macro", "recall_macro"),
            "ner": ("f1", "precision", "recall", "token_accuracy")}
HEADLINE["pair"] = HEADLINE["classification"]
HEADLINE["mlm"] = ("perplexity", "loss", "accuracy")
SETUP_FLAGS = ("lr", "batch_size", "epochs", "max_steps", "optimizer", "schedule", "warmup_ratio", "weight_decay",
               "freeze", "head", "max_seq_length", "class_weights", "early_stopping_patience", "metric_for_best",
               "lora_rank", "precision", "xla", "seed", "init", "select")
MISTAKES_SHOWN = 10
PROTOCOLS = {"refit": "refit on train + validation, then test once", "best run": "test the picked run once",
             "every run tested": "every run tests its best model (the pick is still made on validation)"}
CSS = """
table.report { border-collapse: collapse; margin: 0.5em 0; }
table.report td, table.report th { border: 1px solid #ccc; padding: 2px 8px; }
img { max-width: 100%; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; }
p.warning { background: #fdecea; border-left: 4px solid #d62728; padding: 0.3em 0.8em; }
"""


class Doc:
    """Blocks rendered twice: Markdown (images linked) and an HTML body (images embedded)."""

    def __init__(self, root: pathlib.Path):
        self.root, self.md, self.html = root, [], []

    def heading(self, level: int, text: str) -> None:
        self.md.append(f"{'#' * level} {text}")
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def text(self, text: str) -> None:
        self.md.append(text)
        self.html.append(f"<p>{html.escape(text)}</p>")

    def table(self, header: list[str], rows: list[list]) -> None:
        cell = lambda value: _format(value).replace("|", "\\|")  # noqa: E731
        self.md.append("\n".join([f"| {' | '.join(header)} |", f"|{'---|' * len(header)}",
                                  *(f"| {' | '.join(cell(v) for v in row)} |" for row in rows)]))
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_format(v))}</td>" for v in row) + "</tr>" for row in rows)
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        self.html.append(f'<table class="report"><tr>{head}</tr>{body}</table>')

    def image(self, path: pathlib.Path, caption: str) -> None:
        relative = path.relative_to(self.root).as_posix()
        self.md.append(f"![{caption}]({relative})")
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        self.html.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")

    def warning(self, text: str) -> None:
        self.md.append(f"**Warning: {text}**")
        self.html.append(f'<p class="warning"><strong>Warning:</strong> {html.escape(text)}</p>')

    def code(self, text: str) -> None:
        self.md.append(f"```\n{text.rstrip()}\n```")
        self.html.append(f"<pre>{html.escape(text)}</pre>")

    def raw(self, markdown: str, fragment: str) -> None:
        """The same content written for each format (e.g. errors.md, and highlighted spans as HTML)."""
        self.md.append(markdown.rstrip())
        self.html.append(fragment)

    def write(self, directory: pathlib.Path, title: str) -> tuple[pathlib.Path, pathlib.Path]:
        md = files.write_text(directory / "report.md", f"# {title}\n\n" + "\n\n".join(self.md) + "\n")
        return md, files.write_text(directory / "report.html", render.page(title, "\n".join(self.html), CSS))


def _format(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def write_report(directory: str | pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """The report of a run directory or a sweep directory (one with sweep_config.json)."""
    directory = pathlib.Path(directory)
    doc = Doc(directory)
    if (directory / "sweep_config.json").is_file():
        title = sweep_sections(doc, directory)
    elif (directory / "config.json").is_file():
        title = run_sections(doc, directory, level=2)
    else:
        raise RunError(f"{directory} is neither a tfft run directory (config.json) nor a sweep (sweep_config.json)")
    return doc.write(directory, title)


# ---------------------------------------------------------------- a run


def run_sections(doc: Doc, run_dir: pathlib.Path, *, level: int, extra_baselines: tuple = ()) -> str:
    """The sections of one training run; returns a title for it."""
    run = read_run(run_dir)
    train, task = run.train, run.train.task
    summary = read_json(run_dir / "data_summary.json", "written by python -m tfft.train")
    names = ", ".join(summary["labels"])
    doc.heading(level, "Setup")
    sizes = {split: summary["splits"][split]["examples"] for split in ("train", "validation", "test")}
    defaults = TrainConfig()
    doc.table(["setting", "value"], [
        ["model", train.model], ["task", task], ["data", run.data.description()],
        ["examples (train / validation / test)", " / ".join(str(sizes[s]) for s in sizes)],
        ["labels", names if len(names) < 200 else names[:200] + "…"],
        *([flag, str(getattr(train, flag))] for flag in SETUP_FLAGS
          if getattr(train, flag) != getattr(defaults, flag) or flag in ("lr", "batch_size", "epochs"))])
    doc.text(f"All flags: {(run_dir / 'flags.txt').as_posix()} (use it as --flagfile to repeat the run).")

    doc.heading(level, "Results")
    headline = HEADLINE[task]
    rows = [_result_row("adapted (this run)" if task == "mlm" else "fine-tuned (this run)", run_dir, headline)]
    start = next((r for r in read_metrics_log(run_dir) if r["split"] == "validation" and r["step"] == 0), None)
    if task == "mlm" and start is not None:  # continued pretraining evaluates the encoder it starts from
        rows.insert(0, ["before training (step 0)", start["perplexity"], None, None, None])
    if run.data.train_on_validation:
        rows[0][1] = "trained on it"  # a refit: validation is part of its training data
    for baseline in _baselines(run_dir, extra_baselines):
        kind = read_json(baseline / "baseline.json", "written by python -m tfft.baseline")["kind"]
        rows.append(_result_row(f"baseline: {kind}", baseline, headline))
    doc.table(["model", *(f"validation {m}" for m in headline[:1]), *(f"test {m}" for m in headline)], rows)
    _split_sources(doc, summary, sizes)
    if len(rows) == 1 and task != "mlm":
        doc.text(f"No baselines yet: python -m tfft.baseline --run_dir={run_dir.as_posix()} "
                 "--kind=majority|tfidf_logreg|untrained|frozen_probe")
    tested = test_metrics(run_dir)
    per = (tested or {}).get("per_class") or (tested or {}).get("per_type")
    if per:
        doc.heading(level + 1, "Test scores per " + ("entity type" if task == "ner" else "class"))
        doc.table(["label", "precision", "recall", "f1", "support"],
                  [[name, s["precision"], s["recall"], s["f1"], s["support"]] for name, s in per.items()])

    files_dir = run_dir / "report_files"
    records = read_metrics_log(run_dir)
    doc.heading(level, "Training curves")
    doc.image(plots.loss_curves(records, files_dir / "loss.png"), "Training and validation loss")
    present = [m for m in METRICS[task] if m != "loss" and any(m in r for r in records if r["split"] == "validation")]
    if present:
        doc.image(plots.metric_curves(records, present, files_dir / "validation_metrics.png"), "Validation metrics")
    doc.image(plots.learning_rate_curve(records, files_dir / "learning_rate.png"), "Learning-rate schedule")
    if tested is not None and "confusion_matrix" in tested:
        doc.heading(level, "Confusion matrix (test)")
        doc.image(plots.confusion_heatmap(tested["confusion_matrix"], summary["labels"],  # label-id order
                                          files_dir / "confusion.png"), "Confusion matrix, rows gold")
    if task != "mlm":  # continued pretraining has no labels to get wrong
        _evaluation_sections(doc, run_dir, level)
    return f"Report: {task} with {pathlib.Path(train.model).name} on {run.data.description()}"


def _split_sources(doc: Doc, summary: dict, sizes: dict) -> None:
    """Where each split came from (data_summary.json's "sources", which runs older than it lack), and a warning when
    the test split was carved from another split rather than read from a test set of its own."""
    sources = summary.get("sources")
    if not sources:
        return
    doc.table(["split", "examples", "source"], [[split, sizes.get(split), source] for split, source in sources.items()])
    if sources.get("test", "").startswith("carved from"):
        doc.warning(f"test split {sources['test']} — not an independent test set")


def _result_row(name: str, result_dir: pathlib.Path, headline: tuple) -> list:
    validation = validation_metrics(result_dir)
    tested = test_metrics(result_dir) or {}
    return [name, validation.get(headline[0]), *(tested.get(m) for m in headline)]


def _baselines(run_dir: pathlib.Path, extra: tuple) -> list[pathlib.Path]:
    found = []
    for root in (run_dir / "baselines", *extra):
        if root.is_dir():
            found += sorted(p for p in root.iterdir() if (p / "baseline.json").is_file())
    return found


def _evaluation_sections(doc: Doc, run_dir: pathlib.Path, level: int) -> None:
    evaluation = run_dir / "eval" / "test"
    if not (evaluation / "metrics.json").is_file():
        doc.heading(level, "Mistakes and example predictions")
        doc.text(f"Not evaluated yet: python -m tfft.evaluate --run_dir={run_dir.as_posix()}")
        return
    mistakes = [json.loads(line) for line in
                (evaluation / "errors.jsonl").read_text(encoding="utf-8").splitlines()][:MISTAKES_SHOWN]
    doc.heading(level, f"Most confident mistakes (test, top {len(mistakes)})")
    doc.raw(errors_markdown(mistakes), render.mistakes_html(mistakes))
    examples = [json.loads(line) for line in (evaluation / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
    if not examples:
        return
    doc.heading(level, "Example predictions (test)")
    fragment = render.ner_html(examples) if "words" in examples[0] else render.classification_html(examples)
    png = (evaluation / "predictions.png").relative_to(doc.root).as_posix()
    doc.raw(f"![Example predictions]({png})", fragment)


# ---------------------------------------------------------------- a sweep


def sweep_sections(doc: Doc, sweep_dir: pathlib.Path, level: int = 2) -> str:
    identity = read_json(sweep_dir / "sweep_config.json", "written by python -m tfft.sweep")
    table = read_json(sweep_dir / "sweep.json", "written by python -m tfft.sweep")
    metric, ranked = table["metric"], table["runs"]
    grid = dict(table["grid"])
    doc.heading(level, "Setup")
    base = identity["base"]["train"]
    doc.table(["setting", "value"], [["model", base["model"]], ["task", base["task"]],
                                      ["data", identity["base"]["data"]["dataset"]], ["grid", identity["grid"]],
                                      ["picked by", f"validation {metric}"],
                                      ["protocol", PROTOCOLS[_protocol(identity)]]])
    doc.heading(level, "Runs, best first")
    doc.table(["rank", *grid, f"validation {metric}", "best step", "epoch", "seconds", "status"],
              [[row["rank"], *(str(row["params"][k]) for k in grid), row["metric"], row["step"], row["epoch"],
                str(row["seconds"]), _status(row)] for row in ranked])
    files_dir = sweep_dir / "report_files"
    finished = [row for row in ranked if row["rank"] is not None]  # diverged runs are shown, never compared
    if "lr" in grid and len(grid["lr"]) > 1 and finished:
        doc.image(plots.sweep_lr_plot(finished, metric, files_dir / "sweep_lr.png"), f"Validation {metric} vs lr")
    started = {row["name"]: read_metrics_log(sweep_dir / "runs" / row["name"]) for row in ranked
               if (sweep_dir / "runs" / row["name"] / "metrics.jsonl").is_file()}
    if started:
        doc.image(plots.runs_loss_curves(started, files_dir / "sweep_losses.png"), "Loss of every run")
    categorical = [k for k, values in grid.items() if len(values) > 1 and not _numeric(values)][:2]
    if categorical and finished:
        doc.image(plots.sweep_bar_chart(finished, metric, categorical, files_dir / "sweep_bars.png",
                                        lower_is_better=metric in MINIMISED),
                  f"Best validation {metric} by {' and '.join(categorical)}")
    if not (sweep_dir / "result.json").is_file():
        doc.text("The sweep has not finished: run the same python -m tfft.sweep command again to resume it.")
        return f"Sweep report: {base['task']} with {pathlib.Path(base['model']).name} (unfinished)"
    result = read_json(sweep_dir / "result.json", "written by python -m tfft.sweep")
    pick, protocol = result["pick"], result["protocol"]
    doc.heading(level, "Result")
    if pick is None:
        doc.text("Nothing picked: every run diverged or failed (see the status column above).")
        return f"Sweep report: {base['task']} with {pathlib.Path(base['model']).name} (nothing picked)"
    headline = HEADLINE[base["task"]]
    doc.table(["pick", f"validation {metric}", *(f"test {m}" for m in headline), "tested"],
              [[pick["name"], pick["metric"], *(result["test"].get(m) for m in headline),
                protocol["kind"] + (f" ({protocol['epochs']:.2f} epochs on {protocol['data']})"
                                    if protocol["kind"] == "refit" else "")]])
    doc.heading(level, "The picked run" if protocol["kind"] == "every run tested" else
                "The tested model: " + protocol["kind"])
    run_sections(doc, sweep_dir / protocol["run_dir"], level=level + 1, extra_baselines=(sweep_dir / "baselines",))
    return f"Sweep report: {base['task']} with {pathlib.Path(base['model']).name} on " \
           f"{identity['base']['data']['dataset']}"


def _protocol(identity: dict) -> str:
    """The protocol kind of a sweep from its sweep_config.json (result.json's protocol.kind)."""
    if identity.get("test_every_run"):
        return "every run tested"
    return "refit" if identity["refit"] else "best run"


def _status(row: dict) -> str:
    """A sweep row's status, with the reason when the run diverged."""
    return f"diverged: {row['diverged']}" if row.get("diverged") else row["status"]


def _numeric(values: list[str]) -> bool:
    try:
        [float(v) for v in values]
    except ValueError:
        return False
    return True



# ---------------------------------------------------------------- a study of several sweeps


def write_comparison(directory: str | pathlib.Path, title: str, sweeps: dict[str, pathlib.Path],
                     note: str = "") -> tuple[pathlib.Path, pathlib.Path]:
    """A study's report: one table of the tested pick of each sweep (validation and test headline metrics), then
    each sweep's own sections. `sweeps` maps a name (e.g. 'class weights: balanced') to a sweep directory."""
    directory = pathlib.Path(directory)
    doc = Doc(directory)
    if note:
        doc.text(note)
    doc.heading(2, "Comparison")
    rows, headline = [], None
    for name, sweep_dir in sweeps.items():
        result = read_json(sweep_dir / "result.json", "written by python -m tfft.sweep")
        task = read_json(sweep_dir / "sweep_config.json", "written by python -m tfft.sweep")["base"]["train"]["task"]
        headline = HEADLINE[task]
        pick = result["pick"]
        rows.append([name, pick["name"], *(pick["validation"].get(m) for m in headline),
                     *(result["test"].get(m) for m in headline), result["protocol"]["kind"]])
    doc.table(["study arm", "pick", *(f"validation {m}" for m in headline), *(f"test {m}" for m in headline),
               "tested"], rows)
    for name, sweep_dir in sweeps.items():
        doc.heading(2, f"Sweep: {name}")
        sweep_sections(doc, sweep_dir, level=3)  # its images live under `directory` too
    return doc.write(directory, title)

