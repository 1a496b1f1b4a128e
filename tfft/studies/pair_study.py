"""The sentence-pair architecture study (scripts/study_pairs.py): an encoder with one of tfft's heads, trained with
three freeze settings (the head only, the top blocks, everything), then with the setting that did best on
validation over learning rates x optimizers. Every run tests its best model, every test number is reproduced by
reloading the saved model from disk, and one report holds the data analysis, the architecture, each setting's
metrics, loss curves and mistakes, and a table of all runs.

    STUDY/data/                  analyse_pairs' figures and analysis.json
    STUDY/freeze/, STUDY/optimizer/  the two sweeps (tfft.studies.grid, test_every_run=True)
    STUDY/reproduction.json      each run's test numbers as trained and as reloaded
    STUDY/report.md, report.html

The settings are picked on validation only; the test numbers of every run are reported side by side, never used
to choose. A run that diverged (tfft.studies.grid.divergence) is shown with its numbers, flagged, never picked.

Reproduction: each run's test_metrics.json is written at training time by the model in memory (for --freeze=all
from the cached encoder features); `evaluate_run` reloads best/ from disk (the Hugging Face encoder and
tfft_head.safetensors), recomputes the encoder and evaluates the test split again. The metrics are ratios of counts,
so they agree exactly when the predictions do; one changed prediction moves accuracy by 1/N (1/1725 = 5.8e-4 on
MRPC's test split). A tolerance of 1e-4 therefore demands the same predictions on any test split under 10,000
examples, while allowing for rounding in the ratios. The probabilities themselves may differ in the last digits
(batches of other shapes sum in another order); that difference is reported, not checked. Cached features in
float16 (--feature_dtype=fp16) round the encoder's output, which can flip a near-tie: the study caches them in
float32.
"""

import json
import math
import pathlib

import numpy as np

from tfft import files
from tfft.checkpoints.io import from_pretrained
from tfft.config import RunConfig
from tfft.data import load_data
from tfft.models.heads import POOLINGS, RECURRENT
from tfft.runs import RunError, read_json, read_metrics_log, read_run
from tfft.studies import plots
from tfft.studies.analysis import analyse_pairs, analysis_sections
from tfft.studies.evaluation import EvalConfig, evaluate_run
from tfft.studies.report import Doc
from tfft.tasks import TASKS
from tfft.tokenization import load_tokenizer
from tfft.training.freeze import trainable_variables

SWEEPS = {"freeze": "Stage 1: what to freeze", "optimizer": "Stage 2: learning rate and optimizer"}
HEADLINE = ("accuracy", "precision_macro", "recall_macro", "f1_macro")
COLUMNS = {"accuracy": "accuracy", "precision_macro": "precision (macro)", "recall_macro": "recall (macro)",
           "f1_macro": "F1 (macro)"}
TOLERANCE = 1e-4  # on each test metric; see the module docstring
MISTAKES_SHOWN = 3


class ReproductionError(RunError):
    """A test number that the saved model, reloaded from disk, does not reproduce."""


def freeze_settings(frozen_blocks: int) -> list[str]:
    """The three settings of stage 1, most frozen first."""
    return ["all", f"bottom:{frozen_blocks}", "none"]


def analyse_data(run: RunConfig, output_dir: pathlib.Path) -> dict:
    """`analyse_pairs` on the run's data as its task reads it, with the model's tokenizer and max length."""
    data = load_data(run.data, TASKS[run.train.task])
    return analyse_pairs(data, output_dir, tokenizer=load_tokenizer(run.train.model),
                         max_length=run.train.max_seq_length)


def trainable_parameters(model_dir: pathlib.Path, specs: list[str]) -> dict[str, int]:
    """Parameters that train under each --freeze spec, and under "total" all of them, for the saved model."""
    model = from_pretrained(model_dir)
    count = lambda variables: sum(int(np.prod(v.shape)) for v in variables)  # noqa: E731
    return {"total": count(model.trainable_variables),
            **{spec: count(trainable_variables(model, spec)) for spec in specs}}


def sweep_rows(sweep_dir: pathlib.Path) -> list[dict]:
    """sweep.json's rows in grid order, each with its run directory ("run_dir")."""
    table = read_json(sweep_dir / "sweep.json", "written by the study's sweep")
    return [{**row, "run_dir": sweep_dir / "runs" / row["name"]} for row in sorted(table["runs"],
                                                                                key=lambda r: r["order"])]


# ---------------------------------------------------------------- reproduction


def difference(reported: float, reloaded: float) -> float:
    """|reported - reloaded|; 0 when both are the same non-finite value (a NaN model's NaN, reproduced)."""
    if reported == reloaded or (math.isnan(reported) and math.isnan(reloaded)):
        return 0.0
    if math.isnan(reported) or math.isnan(reloaded):
        return math.inf
    return abs(reported - reloaded)


def reproduce_run(run_dir: pathlib.Path) -> dict:
    """The run's test metrics as reported at training time against those of its best/ reloaded from disk
    (`evaluate_run`, which also writes RUN/eval/test: the mistakes the report shows), and how many predictions
    and how much the probabilities changed."""
    reported = read_json(run_dir / "test_metrics.json", "written at the end of training (evaluate_test)")
    reloaded, eval_dir = evaluate_run(EvalConfig(run_dir=str(run_dir), split="test"))
    before, after = (_jsonl(path) for path in (run_dir / "test_predictions.jsonl", eval_dir / "predictions.jsonl"))
    if len(before) != len(after):
        raise ReproductionError(f"{run_dir}: {len(before)} test predictions at training time, {len(after)} reloaded")
    return {"metrics": {name: {"reported": reported[name], "reloaded": reloaded[name],
                               "difference": difference(reported[name], reloaded[name])} for name in HEADLINE},
            "examples": len(before),
            "changed_predictions": sum(a["predicted"] != b["predicted"] for a, b in zip(before, after)),
            "probability_difference": max((difference(a["probabilities"][k], b["probabilities"][k])
                                           for a, b in zip(before, after) for k in a["probabilities"]), default=0.0)}


def reproduce(study_dir: pathlib.Path, *, tolerance: float = TOLERANCE) -> dict:
    """Every run of both sweeps reproduced (`reproduce_run`); writes and returns reproduction.json's content:
    {"tolerance", "runs": {"freeze/runs/<name>": ...}, "numbers", "max_difference", "reproduced"}."""
    runs = {}
    for sweep in SWEEPS:
        for row in sweep_rows(study_dir / sweep):
            if (row["run_dir"] / "test_metrics.json").is_file():  # a run without a best model has nothing to test
                runs[row["run_dir"].relative_to(study_dir).as_posix()] = reproduce_run(row["run_dir"])
    differences = [m["difference"] for run in runs.values() for m in run["metrics"].values()]
    result = {"tolerance": tolerance, "runs": runs, "numbers": len(differences),
              "max_difference": max(differences, default=0.0),
              "reproduced": all(d <= tolerance for d in differences)}
    files.write_json(study_dir / "reproduction.json", result)
    return result


def check_reproduction(result: dict) -> None:
    """A ReproductionError naming every test number the reloaded models did not reproduce."""
    wrong = [f"{run} {name}: reported {m['reported']:.6f}, reloaded {m['reloaded']:.6f}"
             for run, found in result["runs"].items() for name, m in found["metrics"].items()
             if m["difference"] > result["tolerance"]]
    if wrong:
        raise ReproductionError(f"{len(wrong)} of {result['numbers']} test numbers not reproduced from the saved "
                                f"models (tolerance {result['tolerance']:g}): " + "; ".join(wrong))


def _jsonl(path: pathlib.Path) -> list[dict]:
    if not path.is_file():
        raise RunError(f"{path} is missing")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------- the report


def write_report(study_dir: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """report.md and report.html of a finished study, from the files it wrote."""
    doc = Doc(study_dir)
    stages = {sweep: sweep_rows(study_dir / sweep) for sweep in SWEEPS}
    first = read_json(study_dir / "freeze" / "result.json", "written by the study's first sweep")
    reproduction = read_json(study_dir / "reproduction.json", "written by the study's reproduction step")
    run = read_run(stages["freeze"][0]["run_dir"])
    saved = next(row["run_dir"] / "best" for row in stages["freeze"] if (row["run_dir"] / "best").is_dir())
    parameters = trainable_parameters(saved, [row["params"]["freeze"] for row in stages["freeze"]])
    metric = first["metric"]
    chosen = first["pick"]["params"]["freeze"]
    doc.text(f"{pathlib.Path(run.train.model).name} with a custom --head={run.train.head} on "
             f"{run.data.description()}: three freeze settings, then learning rate x optimizer for the setting with "
             f"the best validation {metric} (--freeze={chosen}). Settings are chosen on validation; every run's best "
             "model is tested, and every test number below is reproduced from the models saved on disk.")
    _setup_section(doc, run, parameters)
    analysis_sections(doc, read_json(study_dir / "data" / "analysis.json", "written by analyse_pairs"),
                      study_dir / "data")
    _freeze_section(doc, stages["freeze"], metric, chosen, parameters, study_dir)
    _optimizer_section(doc, stages["optimizer"], metric, chosen, study_dir)
    _comparison_section(doc, stages, metric)
    _reproduction_section(doc, reproduction)
    return doc.write(study_dir, f"Sentence-pair architecture study: {run.train.head} head, what to freeze, "
                                "lr x optimizer")


def _setup_section(doc: Doc, run: RunConfig, parameters: dict[str, int]) -> None:
    train = run.train
    head = train.head_config()
    doc.heading(2, "Architecture")
    rows = [["encoder", f"{train.model}, {parameters['total'] - parameters['all']:,} parameters"],
            ["head", f"--head={head.kind}, {parameters['all']:,} parameters"]]
    if head.kind in POOLINGS:
        rows.append(["pooling (--head_pooling)", head.pool])
    if head.kind != "attention":
        rows.append(["head width (--head_hidden)", head.hidden or "the encoder's"])
    if head.kind == "mlp":
        rows += [["layers (--head_layers)", head.layers], ["activation (--head_activation)", head.activation]]
    if head.kind in RECURRENT:
        rows.append(["bidirectional (--bidirectional)", head.bidirectional])
    rows.append(["dropout (--head_dropout)", head.dropout])
    doc.table(["part", "setting"], rows)
    doc.heading(2, "Training setup")
    doc.table(["setting", "value"], [
        ["data", run.data.description()], ["task", train.task], ["max_seq_length", train.max_seq_length],
        ["batch_size", train.batch_size], ["updates", f"--max_steps={train.max_steps}" if train.max_steps
                                           else f"--epochs={train.epochs:g}"],
        ["stage 1 lr, optimizer", f"{train.lr:g}, {train.optimizer}"], ["schedule", train.schedule],
        ["clip_norm", train.clip_norm], ["precision", train.precision],
        ["cached features (--freeze=all)", f"{train.feature_cache}, {train.feature_dtype}"],
        ["seed", train.seed]])


def _setting(freeze: str) -> str:
    if freeze == "all":
        return "the encoder frozen: only the head trains (on the encoder's cached features)"
    if freeze == "none":
        return "everything trains"
    return f"the embeddings and the first {freeze.partition(':')[2]} transformer blocks frozen"


def _status(row: dict) -> str:
    return f"diverged: {row['diverged']}" if row.get("diverged") else row["status"]


def _test(row: dict) -> dict:
    path = row["run_dir"] / "test_metrics.json"
    return read_json(path) if path.is_file() else {}


def _setting_value(value) -> object:
    """A typed grid setting for a table: floats as :g writes them (0.001, not the table's 0.0010)."""
    return f"{value:g}" if isinstance(value, float) else value


def one_class(run_dir: pathlib.Path) -> str | None:
    """The label a run's best model predicts for every test example (it collapsed to one class), else None."""
    path = run_dir / "test_predictions.jsonl"
    predicted = {record["predicted"] for record in _jsonl(path)} if path.is_file() else set()
    return predicted.pop() if len(predicted) == 1 else None


def _collapsed(doc: Doc, rows: list[dict], name) -> None:
    """A sentence naming the runs whose best model predicts one class for every test example."""
    found = [f"{name(row)} (only {label})" for row in rows if (label := one_class(row["run_dir"]))]
    if found:
        doc.text(f"Collapsed to one class, every test example predicted the same: {', '.join(found)}. Their "
                 "accuracy is that class's share of the test split, and their macro F1 shows it.")


def _freeze_section(doc: Doc, rows: list[dict], metric: str, chosen: str, parameters: dict[str, int],
                    study_dir: pathlib.Path) -> None:
    doc.heading(2, SWEEPS["freeze"])
    doc.text(f"Chosen for stage 2: --freeze={chosen}, the best validation {metric} among the runs that did not "
             "diverge. Test numbers are the best model's (training time; reproduced below).")
    doc.table(["--freeze", "what trains", "trainable parameters", f"validation {metric}",
               *(f"test {COLUMNS[m]}" for m in HEADLINE), "status"],
              [[row["params"]["freeze"], _setting(row["params"]["freeze"]), f"{parameters[row['params']['freeze']]:,}",
                row["metric"], *(_test(row).get(m) for m in HEADLINE), _status(row)] for row in rows])
    _collapsed(doc, rows, lambda row: f"--freeze={row['params']['freeze']}")
    files_dir = study_dir / "report_files"
    logs = {f"--freeze={row['params']['freeze']}": read_metrics_log(row["run_dir"]) for row in rows
            if (row["run_dir"] / "metrics.jsonl").is_file()}
    doc.image(plots.runs_loss_curves(logs, files_dir / "freeze_losses.png"), "Loss of the three settings")
    for row in rows:
        freeze = row["params"]["freeze"]
        doc.heading(3, f"--freeze={freeze}: {_setting(freeze)}")
        name = f"--freeze={freeze}"
        if name in logs:
            doc.image(plots.loss_curves(logs[name], files_dir / f"loss_freeze_{freeze.replace(':', '-')}.png"),
                      f"Training and validation loss, {name}")
        _mistakes(doc, row["run_dir"])


def _mistakes(doc: Doc, run_dir: pathlib.Path) -> None:
    """The reloaded model's most confident test mistakes, with its probability of the predicted and the gold
    label."""
    path = run_dir / "eval" / "test" / "errors.jsonl"
    if not path.is_file():
        doc.text("Not tested (no best model).")
        return
    mistakes = _jsonl(path)[:MISTAKES_SHOWN]
    doc.text(f"The {len(mistakes)} test mistakes the model was surest of:" if mistakes else "No test mistakes.")
    if mistakes:
        doc.table(["#", "text", "text_pair", "gold", "predicted", "p(predicted)", "p(gold)"],
                  [[m["index"], m["text"], m.get("text_pair", ""), m["gold"], m["predicted"], m["probability"],
                    m["gold_probability"]] for m in mistakes])


def _optimizer_section(doc: Doc, rows: list[dict], metric: str, chosen: str, study_dir: pathlib.Path) -> None:
    grid = dict(read_json(study_dir / "optimizer" / "sweep.json")["grid"])
    doc.heading(2, f"{SWEEPS['optimizer']} with --freeze={chosen}")
    written = "; ".join(f"{name}={','.join(values)}" for name, values in grid.items())
    doc.text(f"Grid: {written}. A run whose loss went non-finite "
             "or blew up, or that skipped updates for non-finite gradients, is marked diverged: its numbers are "
             "shown but it is never picked.")
    doc.table([*grid, f"validation {metric}", f"test {COLUMNS['accuracy']}", f"test {COLUMNS['f1_macro']}",
               "status"],
              [[*(_setting_value(row["params"][k]) for k in grid), row["metric"], _test(row).get("accuracy"),
                _test(row).get("f1_macro"), _status(row)] for row in rows])
    _collapsed(doc, rows, lambda row: row["name"])
    logs = {row["name"]: read_metrics_log(row["run_dir"]) for row in rows
            if (row["run_dir"] / "metrics.jsonl").is_file()}
    if logs:
        doc.image(plots.runs_loss_curves(logs, study_dir / "report_files" / "optimizer_losses.png"),
                  "Loss of every learning rate and optimizer")


def _comparison_section(doc: Doc, stages: dict[str, list[dict]], metric: str) -> None:
    doc.heading(2, "All runs")
    rows = []
    for sweep, found in stages.items():
        for row in found:
            train = read_run(row["run_dir"]).train
            rows.append([sweep, train.freeze, f"{train.lr:g}", train.optimizer, row["metric"],
                         *(_test(row).get(m) for m in HEADLINE), _status(row)])
    doc.table(["stage", "--freeze", "lr", "optimizer", f"validation {metric}",
               *(f"test {COLUMNS[m]}" for m in HEADLINE), "status"], rows)


def _reproduction_section(doc: Doc, result: dict) -> None:
    doc.heading(2, "Reproduced from the saved models")
    runs = result["runs"]
    changed = sum(run["changed_predictions"] for run in runs.values())
    examples = sum(run["examples"] for run in runs.values())
    probability = max((run["probability_difference"] for run in runs.values()), default=0.0)
    verdict = (f"All {result['numbers']} test numbers ({len(HEADLINE)} metrics x {len(runs)} runs) reproduced from "
               if result["reproduced"] else f"NOT all {result['numbers']} test numbers reproduced from ")
    doc.text(verdict + f"the saved models (max |difference| = {result['max_difference']:.2g}, tolerance "
             f"{result['tolerance']:g}): each run's best/ reloaded from disk and evaluated on the test split again "
             f"(tfft.studies.evaluation.evaluate_run), without retraining. {changed} of {examples} test predictions "
             f"changed; the largest change of a probability was {probability:.2g}.")
    doc.text("The metrics are ratios of counts over the test examples: identical predictions give identical numbers, "
             "and one changed prediction moves accuracy by 1/N, more than the tolerance for any test split under "
             "10,000 examples. Probabilities may differ in the last digits: the reloaded model sees batches of other "
             "shapes (and, with --freeze=all, recomputes the encoder the run had cached).")
    doc.table(["run", *(f"{COLUMNS[m]}: reported / reloaded" for m in HEADLINE), "max |difference|",
               "changed predictions"],
              [[name, *(f"{run['metrics'][m]['reported']:.4f} / {run['metrics'][m]['reloaded']:.4f}" for m in HEADLINE),
                max(m["difference"] for m in run["metrics"].values()), run["changed_predictions"]]
               for name, run in runs.items()])
