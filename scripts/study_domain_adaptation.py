"""Study 5: domain adaptation. Continued masked-LM pretraining (--task=mlm) of the encoder on the unlabelled texts of
the task's own training split, then the adapted and the original encoder fine-tuned on the same few labelled
examples with the same flags, once per seed. The report: the validation perplexity before and after the masked-LM
stage and its test perplexity, the test accuracy and macro-F1 of both arms per seed, mean ± std per arm, and the
paired difference (adapted − original) with its spread; result.json holds every number.

    STUDY/mlm/                      the masked-LM run; STUDY/mlm/best is the adapted encoder
    STUDY/original/seed_N/, STUDY/adapted/seed_N/   the fine-tuning runs
    STUDY/study_config.json, STUDY/result.json, STUDY/report.md, report.html

The pairing: a seed sets everything random in a run (the --max_train_examples subset and any carved split, the
head's initialisation, dropout, the batch order), and the two runs of a seed share it, so they differ only in the
encoder's weights; the spread over seeds includes which labelled examples were drawn. The adapted checkpoint carries
the original's pooler (tfft's BertForMaskedLM keeps it, untrained), so the classifier starts alike in both arms
whatever --head. The masked-LM stage runs once, with --seed. The same command resumes an interrupted study;
finished runs are kept.

The preset fine-tunes at lr 1e-4 for 6 epochs (188 updates): with the default 5e-5 for 3 epochs (94 updates) both
arms stay under-trained on 1000 examples (test macro-F1 0.24: the four small classes are hardly predicted), and the
adapted encoder then looks better on every seed (+1.1 accuracy points), a gain that is gone once both are trained
(accuracy 0.79, adapted - original -0.3 +- 0.8 points; measured with all-MiniLM-L6-v2, 300 masked-LM updates).

    python scripts/study_domain_adaptation.py            # emotion (tweets) from ../shared/data, 1000 labelled
    python scripts/study_domain_adaptation.py --mlm_steps=1000 --seeds=0,1,2,3,4
    python scripts/study_domain_adaptation.py --smoke    # the embedded sample, a few steps per run
"""

import dataclasses
import json
import logging
import pathlib
import shlex
import statistics
import sys
import time

from absl import flags

import studylib  # first: it puts the checkout on sys.path
from tfft import cli, files
from tfft.config import RunConfig
from tfft.data.sources import SAMPLE_DIR
from tfft.models import read_config
from tfft.runs import check_run, read_json, read_metrics_log, start_run, test_metrics, validation_metrics
from tfft.studies import plots
from tfft.studies.grid import FINISHED
from tfft.studies.report import HEADLINE, Doc
from tfft.training.loop import train_and_evaluate

flags.DEFINE_integer("mlm_steps", 300, "Masked-LM updates on the domain text.")
flags.DEFINE_float("mlm_lr", 1e-4, "Peak learning rate of the masked-LM stage.")
flags.DEFINE_integer("mlm_batch_size", 32, "Sequences per masked-LM batch.")
flags.DEFINE_integer("mlm_max_seq_length", 128, "Tokens per packed masked-LM sequence.")
flags.DEFINE_integer("mlm_eval_every", 50, "Validation perplexity every N masked-LM updates (and at step 0).")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Training seeds of the fine-tuning runs, one run per arm each.")
FLAGS = flags.FLAGS
log = logging.getLogger("study")
ARMS = ("original", "adapted")


def study(output_dir):
    try:
        seeds = [int(seed) for seed in FLAGS.seeds]
    except ValueError:
        cli.fail(f"--seeds={','.join(FLAGS.seeds)}: expected comma-separated integers")
    finetune = studylib.base_run(evaluate_test=True)
    check_arms(finetune)
    mlm = domain_run(finetune)
    identity = {"mlm": json.loads(mlm.to_json()), "finetune": json.loads(finetune.to_json()), "seeds": seeds}
    recorded = output_dir / "study_config.json"
    if recorded.is_file() and not same_study(read_json(recorded), mlm, finetune, seeds):
        cli.fail(f"{output_dir} holds a study with other flags or seeds; choose a new --output_dir")
    files.write_json(recorded, identity)

    train(mlm, output_dir / "mlm")
    adapted = str((output_dir / "mlm" / "best").resolve())  # absolute: the runs' config.json must resolve anywhere
    for seed in seeds:  # seed by seed, so an interrupted study has both arms of every finished seed
        for arm, model in zip(ARMS, (finetune.train.model, adapted)):
            train(RunConfig(dataclasses.replace(finetune.train, model=model, seed=seed),
                            dataclasses.replace(finetune.data, seed=seed)), output_dir / arm / f"seed_{seed}")
    result = collect(output_dir, seeds, HEADLINE[finetune.train.task][:2])
    files.write_json(output_dir / "result.json", result)
    write_report(output_dir, result)


def same_study(recorded: dict, mlm: RunConfig, finetune: RunConfig, seeds: list[int]) -> bool:
    """Whether study_config.json records these settings; flags that tfft added since read as their defaults."""
    try:
        return (RunConfig.from_json(json.dumps(recorded["mlm"])) == mlm and recorded["seeds"] == seeds
                and RunConfig.from_json(json.dumps(recorded["finetune"])) == finetune)
    except (KeyError, TypeError, ValueError):  # not a study_config.json of this script
        return False


def check_arms(run: RunConfig) -> None:
    """The fine-tuning task is a labelled one."""
    if run.train.task == "mlm":
        cli.fail("--task=mlm: the study fine-tunes a labelled task (classification, pair or ner) and builds its "
                 "masked-LM stage from it")


def domain_run(finetune: RunConfig) -> RunConfig:
    """The masked-LM stage: the original encoder on the texts of the fine-tuning data's whole training split (no
    --max_train_examples, no labels), with the fine-tuning run's optimizer, schedule and precision flags."""
    # --dataset=sample under --task=mlm is a corpus of its own: name the fine-tuning task's sample directly.
    dataset = str(SAMPLE_DIR / finetune.train.task) if finetune.data.dataset == "sample" else finetune.data.dataset
    train = dataclasses.replace(
        finetune.train, task="mlm", lr=FLAGS.mlm_lr, max_steps=FLAGS.mlm_steps, batch_size=FLAGS.mlm_batch_size,
        max_seq_length=FLAGS.mlm_max_seq_length, eval_every=FLAGS.mlm_eval_every, metric_for_best="",
        head="hf", head_pooling="", bidirectional=False, freeze="none", class_weights="none", label_smoothing=0.0,
        early_stopping_patience=None, select="best", export=False)
    data = dataclasses.replace(finetune.data, dataset=dataset, label_names=None, max_train_examples=None,
                               train_label_fraction=None, train_on_validation=False)
    return RunConfig(train, data)


def train(run: RunConfig, run_dir: pathlib.Path) -> None:
    """One run to its end, unless it finished earlier (FINISHED, with its wall time, is written last); an
    interrupted one continues from its checkpoint."""
    if (run_dir / FINISHED).is_file():
        log.info("%s: finished earlier, kept", run_dir)
        return
    check_run(run.train)
    resume = (run_dir / "checkpoints" / "checkpoint").is_file()
    start_run(run, run_dir, resume=resume, overwrite=not resume)
    start = time.perf_counter()
    with cli.stop_on_signals() as stop:  # Ctrl-C / SIGTERM: checkpoint the current run; the same command resumes
        result = train_and_evaluate(run, run_dir, resume=resume, interrupt=stop)
    if "interrupted_at" in result:
        cli.exit_interrupted(stop, f"interrupted in {run_dir}: run the same command again to resume the study")
    files.write_json(run_dir / FINISHED, {"seconds": round(time.perf_counter() - start, 1)})


# ---------------------------------------------------------------- numbers, from the run files


def spread(values: list[float]) -> dict:
    """Mean and sample standard deviation (n - 1; None for a single value)."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None}


def collect(output_dir: pathlib.Path, seeds: list[int], metrics: tuple[str, ...]) -> dict:
    """result.json: the masked-LM stage, every fine-tuning run, and per metric each arm's and the difference's
    spread over the seeds."""
    mlm_dir = output_dir / "mlm"
    curve = plots.latest(read_metrics_log(mlm_dir), "validation")  # step 0 first: before any masked-LM update
    mlm = {"run_dir": "mlm", "seconds": read_json(mlm_dir / FINISHED)["seconds"],
           "vocab_size": read_config(mlm_dir / "best" / "config.json").vocab_size,
           "documents": {split: counts["examples"] for split, counts in
                         read_json(mlm_dir / "data_summary.json")["splits"].items()},
           "before": curve[0], "after": validation_metrics(mlm_dir), "test": test_metrics(mlm_dir),
           "epochs": curve[-1]["epoch"]}
    runs = []
    for seed in seeds:
        for arm in ARMS:
            run_dir = output_dir / arm / f"seed_{seed}"
            runs.append({"arm": arm, "seed": seed, "run_dir": run_dir.relative_to(output_dir).as_posix(),
                         "seconds": read_json(run_dir / FINISHED)["seconds"],
                         "validation": validation_metrics(run_dir), "test": test_metrics(run_dir)})
    summary = {}
    for metric in metrics:
        scores = {arm: [run["test"][metric] for run in runs if run["arm"] == arm] for arm in ARMS}
        differences = [adapted - original for original, adapted in zip(scores["original"], scores["adapted"])]
        summary[metric] = {**{arm: spread(scores[arm]) for arm in ARMS},
                           "difference": {**spread(differences), "per_seed": differences},
                           "adapted_better": sum(d > 0 for d in differences)}
    command = shlex.join(["python", f"scripts/{pathlib.Path(sys.argv[0]).name}", *sys.argv[1:]])
    return {"command": command, "seeds": seeds, "metrics": list(metrics), "mlm": mlm, "runs": runs,
            "summary": summary}


# ---------------------------------------------------------------- the report


def write_report(output_dir: pathlib.Path, result: dict) -> None:
    doc = Doc(output_dir)
    mlm, metrics, seeds = result["mlm"], result["metrics"], result["seeds"]
    config = read_json(output_dir / "study_config.json")
    finetune, data, mlm_train = config["finetune"]["train"], config["finetune"]["data"], config["mlm"]["train"]
    labelled = read_json(output_dir / result["runs"][0]["run_dir"] / "data_summary.json")["splits"]
    doc.text(f"Does continued masked-LM pretraining on the task's own unlabelled text help fine-tuning with few "
             f"labels? {pathlib.Path(finetune['model']).name} is trained as a masked LM on the "
             f"{mlm['documents']['train']} training texts of {data['dataset']} (adapted), then it and the original "
             f"encoder are fine-tuned with identical flags on {labelled['train']['examples']} labelled examples, "
             f"once per seed ({', '.join(map(str, seeds))}).")
    doc.text("Pairing: a seed sets everything random in a run (the labelled subset drawn by --max_train_examples and "
             "any carved split, the head's initialisation, dropout, the batch order) and the two runs of a seed share "
             "it, so they differ only in the encoder's weights; the difference adapted − original is taken per seed. "
             "Standard deviations are over seeds (n − 1) and include which labelled examples were drawn. The "
             "adapted checkpoint carries the original's pooler, untrained, so the classifier starts alike in both "
             "arms. The masked-LM stage runs once.")

    doc.heading(2, "Setup")
    doc.table(["setting", "masked-LM stage", "fine-tuning (both arms)"], [
        ["model", finetune["model"], f"{finetune['model']} (original) or mlm/best (adapted)"],
        ["data", config["mlm"]["data"]["dataset"], data["dataset"]],
        ["examples (train / validation / test)", " / ".join(str(mlm["documents"][s]) for s in
                                                            ("train", "validation", "test")) + " texts",
         " / ".join(str(labelled[s]["examples"]) for s in ("train", "validation", "test"))],
        ["updates", f"{mlm_train['max_steps']} ({mlm['epochs']:.2f} epochs)",
         finetune["max_steps"] or f"{finetune['epochs']} epochs"],
        *([flag, str(mlm_train[flag]), str(finetune[flag])] for flag in ("lr", "batch_size", "max_seq_length")),
        ["head", "masked LM (hf)", f"{finetune['head']} (fresh in both arms)"],
        ["mlm_probability / whole_word_masking", f"{mlm_train['mlm_probability']} / "
                                                 f"{mlm_train['whole_word_masking']}", "–"],
        ["seed", data["seed"], ", ".join(map(str, seeds))]])

    doc.heading(2, "Stage 1: masked-LM adaptation")
    before, after = mlm["before"], mlm["after"]
    doc.table(["", "step", "validation perplexity", "validation masked-token accuracy", "test perplexity"],
              [["before (original)", before["step"], before["perplexity"], before["accuracy"], None],
               ["after (adapted, best/)", after["step"], after["perplexity"], after["accuracy"],
                mlm["test"]["perplexity"]]])
    if before["perplexity"] > mlm["vocab_size"]:
        doc.text(f"The perplexity before training exceeds the vocabulary size ({mlm['vocab_size']}), a uniform "
                 "guess: the original checkpoint has no trained masked-LM head (a sentence-embedding encoder), so "
                 "'before' measures a fresh head over the original encoder, not how well it knows the domain.")
    files_dir = output_dir / "report_files"
    records = read_metrics_log(output_dir / "mlm")
    doc.image(perplexity_plot(plots.latest(records, "validation"), files_dir / "mlm_perplexity.png"),
              "Masked-LM validation perplexity")
    doc.image(plots.loss_curves(records, files_dir / "mlm_loss.png"), "Masked-LM training and validation loss")

    doc.heading(2, "Stage 2: fine-tuning, original vs adapted encoder")
    doc.text("Test metrics of each run's best model (picked on validation accuracy or --metric_for_best).")
    by_seed = {(run["arm"], run["seed"]): run["test"] for run in result["runs"]}
    doc.table(["seed", *(f"{label} {metric}" for metric in metrics for label in ("original", "adapted", "Δ"))],
              [[seed, *(value for metric in metrics for value in (
                  by_seed["original", seed][metric], by_seed["adapted", seed][metric],
                  by_seed["adapted", seed][metric] - by_seed["original", seed][metric]))] for seed in seeds])
    summary = result["summary"]
    doc.table(["test metric", "original (mean ± std)", "adapted (mean ± std)", "adapted − original (mean ± std)",
               "seeds where adapted is better"],
              [[metric, *(_mean_std(summary[metric][key]) for key in (*ARMS, "difference")),
                f"{summary[metric]['adapted_better']} of {len(seeds)}"] for metric in metrics])
    doc.image(plots.runs_loss_curves({f"{run['arm']} seed {run['seed']}": read_metrics_log(output_dir / run["run_dir"])
                                      for run in result["runs"]}, files_dir / "finetune_losses.png"),
              "Fine-tuning loss of every run")

    doc.heading(2, "Stages: commands and wall times")
    doc.text(f"The whole study (resumes where it stopped): {result['command']}")
    doc.table(["stage", "run directory", "wall seconds", "repeat alone"],
              [["masked LM", "mlm", str(mlm["seconds"]), "python -m tfft.train --flagfile=mlm/flags.txt"],
               *([f"fine-tune {run['arm']}, seed {run['seed']}", run["run_dir"], str(run["seconds"]),
                  f"python -m tfft.train --flagfile={run['run_dir']}/flags.txt"] for run in result["runs"])])
    doc.text(f"Total: {mlm['seconds'] + sum(run['seconds'] for run in result['runs']):.0f} s.")
    doc.write(output_dir, f"Domain adaptation: masked-LM on {data['dataset']}, then fine-tuning")


def _mean_std(values: dict) -> str:
    return f"{values['mean']:.4f}" + (f" ± {values['std']:.4f}" if values["std"] is not None else "")


def perplexity_plot(curve: list[dict], path: pathlib.Path) -> pathlib.Path:
    """Validation perplexity per update step on a log axis (it falls by orders of magnitude from a fresh head)."""
    figure = plots.new_figure(*plots.CURVE_FIGSIZE)
    axes = figure.subplots()
    axes.plot([r["step"] for r in curve], [r["perplexity"] for r in curve], "o-")
    axes.set_yscale("log")
    axes.set(title="Masked-LM validation perplexity", xlabel="update step", ylabel="perplexity (log scale)")
    return plots.save(figure, path)


if __name__ == "__main__":
    studylib.launch(study, preset=["--flagfile=flags/emotion.cfg", "--max_train_examples=1000", "--lr=1e-4",
                                   "--epochs=6"],
                    smoke=["--flagfile=flags/quickstart_classification.cfg", "--max_steps=4",
                           "--log_every=1", "--eval_every=2", "--seeds=0,1", "--mlm_steps=4", "--mlm_eval_every=2",
                           "--mlm_batch_size=16", "--mlm_max_seq_length=64"])
