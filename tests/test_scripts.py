"""The study scripts end to end in --smoke mode (the embedded samples, a few steps each, the encoder studies on the
tiny random BERT): each one command that ends in a report holding what its study is about; and the table of
scripts/bench_vs_peers.py."""

import importlib
import importlib.util
import json
import pathlib
import re
import runpy
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest
from conftest import error_line, finished_process

ROOT = pathlib.Path(__file__).parent.parent
SCRIPTS = ROOT / "scripts"
FROZEN_BLOCKS = 1  # the pair study's middle freeze setting, bottom:N, must fit the tiny model's 2 blocks


def run_script(script: str, out: pathlib.Path, *args):
    """A study script's --smoke preset writing to `out`, then `args` (which override the preset's flags)."""
    return subprocess.run([sys.executable, f"scripts/{script}", "--smoke", f"--output_dir={out}", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=1200)


def run_script_in_process(script: str, out: pathlib.Path, *args) -> subprocess.CompletedProcess:
    """What run_script's command does, made in this process (no TensorFlow start-up, ~7 s a study): the script runs
    as __main__ with that command line, through studylib.launch (the preset, then `args`) and the command's own flag
    parsing (cli._parse_flags), its errors reported as cli.run reports them (cli.call_reporting); its exit code,
    stdout and stderr come back as a finished process's. The script's own flags are gone afterwards (flagsaver), so
    the next script defines them again. For the scripts built on studylib (study_sequences.py defines flags that
    tfft.train also defines: it runs as a process)."""
    from absl.testing import flagsaver

    from tfft import cli

    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))  # as `python scripts/X.py` has it
    importlib.import_module("studylib")  # before flagsaver: its --smoke stays defined while the module stays imported
    argv = [str(SCRIPTS / script), "--smoke", f"--output_dir={out}", *args]

    def run(main, argv):  # cli.run without absl's app.run (which exits the process)
        cli.call_reporting(main, cli._parse_flags(argv))

    with flagsaver.flagsaver(), mock.patch.object(cli, "run", run), mock.patch.object(sys, "argv", argv):
        return finished_process(argv, lambda: runpy.run_path(argv[0], run_name="__main__"))


def report_of(result, out: pathlib.Path) -> str:
    """report.md of a study that finished and wrote both reports."""
    assert result.returncode == 0, result.stderr[-4000:]
    assert (out / "report.md").is_file() and (out / "report.html").is_file()
    return (out / "report.md").read_text()


@pytest.fixture(scope="module")
def encoder_study(tiny_model):
    """Runs a study of the encoder on the tiny random BERT (conftest) instead of the preset's all-MiniLM-L6-v2: these
    tests check the report's sections, that its numbers are the run files', resuming and refusing, not what a
    pretrained encoder learns. In this process (run_script_in_process). Returns the finished process."""
    return lambda script, out, *args: run_script_in_process(script, out, f"--cache_dir={out / 'cache'}",
                                                            f"--model={tiny_model}", *args)


@pytest.fixture(scope="module")
def study(encoder_study):
    """Like encoder_study, for a study that must finish: its report.md."""
    return lambda script, out, *args: report_of(encoder_study(script, out, *args), out)


@pytest.mark.slow
def test_learning_rate_study(tmp_path, study):
    report = study("study_learning_rate.py", tmp_path / "lr", "--lrs=1e-4")  # one run to sweep: the table is the same
    assert "| rank | lr | validation accuracy |" in report
    for kind in ("majority", "tfidf_logreg", "frozen_probe", "untrained"):
        assert f"| baseline: {kind} |" in report
    assert "Training and validation loss" in report and "Most confident mistakes" in report
    assert "Example predictions" in report


@pytest.mark.slow
def test_head_only_study_compares_class_weights(tmp_path, study):
    report = study("study_head_only.py", tmp_path / "head", "--lrs=1e-3")  # per arm one run and the refit
    assert "| class weights: none |" in report and "| class weights: balanced |" in report
    refit = json.loads((tmp_path / "head" / "class_weights_balanced" / "refit" / "config.json").read_text())
    assert refit["train"]["freeze"] == "all" and refit["train"]["class_weights"] == "balanced"
    assert refit["data"]["train_label_fraction"] == "positive:0.1" and refit["data"]["train_on_validation"]


@pytest.mark.slow
def test_pair_study_reports_freeze_settings_optimizers_and_reproduces_every_test_number(tmp_path, study):
    out = tmp_path / "pairs"
    report = study("study_pairs.py", out, f"--frozen_blocks={FROZEN_BLOCKS}")
    sections = {title: body for title, body in re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", report, re.M | re.S)}
    assert {"Architecture", "Data", "Stage 1: what to freeze", "All runs", "Reproduced from the saved models"} <= \
        set(sections)
    assert "| head | --head=attention, " in sections["Architecture"]
    for image in ("label_balance", "lengths", "overlap"):
        assert f"(data/{image}.png)" in sections["Data"] and (out / "data" / f"{image}.png").is_file()

    freeze = sections["Stage 1: what to freeze"]
    chosen = json.loads((out / "freeze" / "result.json").read_text())["pick"]["params"]["freeze"]
    assert f"Chosen for stage 2: --freeze={chosen}" in freeze
    for setting in ("all", f"bottom:{FROZEN_BLOCKS}", "none"):
        run_dir = out / "freeze" / "runs" / f"freeze={setting.replace(':', '-')}"
        tested = json.loads((run_dir / "test_metrics.json").read_text())
        cells = re.escape(" | ".join([*(f"{tested[m]:.4f}" for m in ("accuracy", "precision_macro", "recall_macro",
                                                                       "f1_macro")), "finished"]))
        assert re.search(rf"^\| {re.escape(setting)} \|.*\| {cells} \|$", freeze, re.M)
        body = freeze.split(f"### --freeze={setting}: ")[1].split("### ")[0]
        assert f"(report_files/loss_freeze_{setting.replace(':', '-')}.png)" in body
        predictions = {(r["text"], r["text_pair"]): r for r in
                       map(json.loads, (run_dir / "test_predictions.jsonl").read_text().splitlines())}
        mistakes = re.findall(r"^\| \d+ \| (.+?) \| (.+?) \| (\w+) \| (\w+) \| ([\d.]+) \| ([\d.]+) \|$", body, re.M)
        assert len(mistakes) >= 2
        for text, text_pair, gold, predicted, p_predicted, p_gold in mistakes:  # as the run predicted at training
            record = predictions[(text, text_pair)]
            assert gold == record["gold"] != predicted == record["predicted"]
            assert abs(float(p_predicted) - record["probabilities"][predicted]) < 1e-3
            assert abs(float(p_gold) - record["probabilities"][gold]) < 1e-3

    stage2 = next(body for title, body in sections.items() if title == f"Stage 2: learning rate and optimizer with "
                  f"--freeze={chosen}")
    assert "| lr | optimizer | validation accuracy | test accuracy | test F1 (macro) | status |" in stage2
    runs = json.loads((out / "optimizer" / "sweep.json").read_text())["runs"]
    assert len(runs) == 4 and {r["status"] for r in runs} <= {"finished", "diverged"}
    # lr=1e3 blows up, on the tiny model too (measured: validation loss 4.6e6 with adamw, 5.5e3 with sgd at step 2,
    # from 0.69; the grid counts above 100 times the first as diverged)
    assert [r["params"]["lr"] for r in runs if r["status"] == "diverged"] == [1e3, 1e3]
    assert stage2.count("| diverged: ") == 2
    assert json.loads((out / "optimizer" / "result.json").read_text())["pick"]["params"]["lr"] == 1e-3
    assert len(re.findall(r"^\| (freeze|optimizer) \|", sections["All runs"], re.M)) == 7
    assert "All 28 test numbers (4 metrics x 7 runs) reproduced from the saved models (max |difference| = " in \
        sections["Reproduced from the saved models"]

    # Independently of the study: the chosen run's saved model, reloaded, scores the reported test accuracy.
    from tfft.data import load_data
    from tfft.runs import read_run
    from tfft.serving.predictors import ModelPredictor
    from tfft.tasks import TASKS

    run_dir = out / "freeze" / "runs" / f"freeze={chosen.replace(':', '-')}"
    run = read_run(run_dir)
    test = load_data(run.data, TASKS["pair"]).splits["test"]
    predictor = ModelPredictor(run_dir / "best", task="pair", max_length=run.train.max_seq_length)
    predicted = [r["label"] for r in predictor.predict(list(test.texts), list(test.text_pairs))]
    accuracy = sum(p == g for p, g in zip(predicted, test.labels)) / len(test.labels)
    assert accuracy == json.loads((run_dir / "test_metrics.json").read_text())["accuracy"]
    assert re.search(rf"^\| {re.escape(chosen)} \|[^\n]*\| {accuracy:.4f} \|", freeze, re.M)


@pytest.mark.slow
def test_ner_study(tmp_path, study):
    report = study("study_ner.py", tmp_path / "ner")
    assert "Test scores per entity type" in report and "| baseline: tfidf_logreg |" in report
    html = (tmp_path / "ner" / "report.html").read_text()
    assert '<mark class="entity' in html


@pytest.mark.slow
def test_domain_adaptation_study_reports_perplexity_and_paired_differences_from_the_run_files(
        tmp_path, tiny_model, encoder_study, study):
    out = tmp_path / "domain"
    report = study("study_domain_adaptation.py", out)
    sections = {title: body for title, body in re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", report, re.M | re.S)}
    read = lambda path: json.loads((out / path).read_text())  # noqa: E731
    result = read("result.json")

    # Stage 1: before is the masked-LM run's step-0 validation record, after its best/, on the fine-tuning texts.
    mlm = read("mlm/config.json")
    assert mlm["train"]["task"] == "mlm" and mlm["train"]["max_steps"] == 4
    assert mlm["data"]["dataset"].endswith("sample/classification") and mlm["data"]["max_train_examples"] is None
    records = [json.loads(line) for line in (out / "mlm" / "metrics.jsonl").read_text().splitlines()]
    step0 = next(r for r in records if r["split"] == "validation" and r["step"] == 0)
    best, tested = read("mlm/best_metrics.json"), read("mlm/test_metrics.json")
    stage1 = sections["Stage 1: masked-LM adaptation"]
    assert f"| before (original) | 0 | {step0['perplexity']:.4f} | {step0['accuracy']:.4f} | – |" in stage1
    assert f"| after (adapted, best/) | {best['step']} | {best['perplexity']:.4f} | {best['accuracy']:.4f} | " \
           f"{tested['perplexity']:.4f} |" in stage1
    # the tiny model learns too in the 4 masked-LM updates (measured: validation loss 10.339 at step 0, 10.334 at 4)
    assert result["mlm"]["before"]["perplexity"] == step0["perplexity"] > best["perplexity"]
    assert "(report_files/mlm_perplexity.png)" in stage1 and (out / "report_files" / "mlm_perplexity.png").is_file()

    # Stage 2: per seed the test numbers of both arms' runs, and the paired differences, mean and std over seeds.
    stage2 = sections["Stage 2: fine-tuning, original vs adapted encoder"]
    scores = {}
    for seed in (0, 1):
        runs = {arm: read(f"{arm}/seed_{seed}/config.json") for arm in ("original", "adapted")}
        assert runs["original"]["train"]["model"] == str(tiny_model)
        assert runs["adapted"]["train"]["model"] == str((out / "mlm" / "best").resolve())
        assert {r["train"]["seed"] for r in runs.values()} == {seed} and {r["train"]["head"] for r in runs.values()} \
            == {"hf"}
        assert runs["original"]["data"] == runs["adapted"]["data"] and runs["original"]["data"]["seed"] == seed
        test = {arm: read(f"{arm}/seed_{seed}/test_metrics.json") for arm in runs}
        row = re.search(rf"^\| {seed} \| (.+) \|$", stage2, re.M).group(1).split(" | ")
        expected = [v for m in ("accuracy", "f1_macro") for v in
                    (test["original"][m], test["adapted"][m], test["adapted"][m] - test["original"][m])]
        assert [float(cell) for cell in row] == pytest.approx(expected, abs=5e-5)
        scores[seed] = test
    for metric in ("accuracy", "f1_macro"):
        values = {arm: [scores[s][arm][metric] for s in (0, 1)] for arm in ("original", "adapted")}
        values["difference"] = [a - o for o, a in zip(values["original"], values["adapted"])]
        cells = re.search(rf"^\| {metric} \| (.+?) \| (.+?) \| (.+?) \| (\d) of 2 \|$", stage2, re.M).groups()
        for key, cell in zip(("original", "adapted", "difference"), cells):
            mean, std = map(float, cell.split(" ± "))
            assert (mean, std) == pytest.approx((np.mean(values[key]), np.std(values[key], ddof=1)), abs=5e-5)
            assert result["summary"][metric][key]["mean"] == pytest.approx(np.mean(values[key]), abs=1e-12)
        assert int(cells[3]) == sum(d > 0 for d in values["difference"])
    assert "(report_files/finetune_losses.png)" in stage2

    stages = sections["Stages: commands and wall times"]
    for run_dir in ("mlm", "original/seed_0", "adapted/seed_0", "original/seed_1", "adapted/seed_1"):
        seconds = json.loads((out / run_dir / "finished.json").read_text())["seconds"]
        assert f"| {run_dir} | {seconds} | python -m tfft.train --flagfile={run_dir}/flags.txt |" in stages
    assert report.count("![") == (out / "report.html").read_text().count("data:image/png;base64,") == 3

    # the same command again keeps every finished run; other settings in the same directory are refused
    finished = {p: p.read_text() for p in out.glob("*/**/finished.json")}
    assert study("study_domain_adaptation.py", out) == report
    assert {p: p.read_text() for p in out.glob("*/**/finished.json")} == finished
    refused = encoder_study("study_domain_adaptation.py", out, "--mlm_steps=5")
    assert error_line(refused) == f"error: {out} holds a study with other flags or seeds; choose a new --output_dir"


@pytest.mark.slow
def test_sequence_study_reports_the_three_models_and_refuses_a_pickle_without_allow_pickle(tmp_path):
    """The study in a process of its own (its flags, e.g. --lr, are tfft.train's too), and beside it, at once, the
    same command refusing a pickle given without --allow_pickle."""
    (tmp_path / "data.pkl").write_bytes(b"not looked at")
    pickled = subprocess.Popen([sys.executable, "scripts/study_sequences.py", "--smoke",
                                f"--output_dir={tmp_path / 'refused'}", f"--data={tmp_path / 'data.pkl'}"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = tmp_path / "sequences"
    report = report_of(run_script("study_sequences.py", out, f"--save_data={tmp_path / 'data.npz'}"), out)
    sections = dict(re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", report, re.M | re.S))
    assert {"Data", "Results", "By sequence length", "Analysis", "Command"} <= set(sections)
    summary = json.loads((out / "result.json").read_text())
    for name in ("rnn", "ffn_truncated", "ffn_padded"):
        model = summary["models"][name]
        assert re.search(rf"^\| {name} \| .* \| {model['parameters']} \| 3 \|", sections["Results"], re.M)
        assert len(model["test_by_length"]) == 3
        assert list((out / "models" / name / "tensorboard" / "validation").glob("events.out.tfevents.*"))
    assert "| which model wins overall (test MSE) |" in sections["Analysis"]
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 2
    assert "feed-forward on the first 5 steps (the shortest length)" in sections["Results"]

    again = run_script("study_sequences.py", out, "--data", str(tmp_path / "data.npz"))  # reloads, as a new study
    assert error_line(again) == (
        f"error: {out} holds a study with other settings or data (its study_config.json); choose a new --output_dir")

    stdout, stderr = pickled.communicate(timeout=1200)
    result = subprocess.CompletedProcess(pickled.args, pickled.returncode, stdout, stderr)
    assert error_line(result).startswith(
        f"error: {tmp_path / 'data.pkl'}: loading a pickle can run any code it names; pass --allow_pickle")
    assert not (tmp_path / "refused").exists()


def test_bench_vs_peers_table_puts_each_target_beside_its_peer():
    spec = importlib.util.spec_from_file_location("bench_vs_peers", ROOT / "scripts/bench_vs_peers.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    names = [name for name, _ in script.tfft_runs(pathlib.Path("data"))]
    assert "train_step distilbert-random xla" in names and names[-2:] == ["epoch sst2", "pipeline sst2"]
    cpu = {"model": "AMD EPYC", "isa": ["avx2", "fma"], "cores": 2, "onednn_max_cpu_isa": None}
    results = {
        "train_step minilm": {"examples_per_second": 15.0, "mfu": 0.7, "cpu": cpu},
        "train_step minilm xla": {"examples_per_second": 13.0, "mfu": 0.6},
        "peer minilm": {"train_examples_per_s": 12.0, "infer_examples_per_s": 50.0},
        "infer minilm": {"python": {"examples_per_second": 60.0}, "saved_model": {"examples_per_second": 55.0}},
        "epoch sst2": {"train_seconds": 90.0, "padding_share": 0.02, "validation": {"accuracy": 0.86123},
                       "input_wait_share": 0.001, "examples_per_second": 70.0},
        "peer finetune sst2": {"train_s": 180.0, "padding_share": 0.5, "dev_accuracy": 0.85},
        "pipeline sst2": {"tokenize_examples_per_second": 14000.0},
    }
    table = script.table(results).splitlines()
    assert table[0] == "CPU: AMD EPYC (avx2, fma), 2 cores"
    assert script.cpu_line({"x": {"cpu": {**cpu, "onednn_max_cpu_isa": "AVX2"}}}).endswith(", ONEDNN_MAX_CPU_ISA=AVX2")
    assert script.cpu_line({"peer": {}}) == "CPU: not reported"
    assert "| minilm train ex/s (MFU 70%) | 15.0 | 12.0 | 1.25x |" in table
    assert "| minilm xla train ex/s (MFU 60%) | 13.0 |  |  |" in table  # the peer has no XLA run
    assert "| minilm inference ex/s, saved_model | 55.0 | 50.0 | 1.10x |" in table
    assert "| SST-2 epoch train seconds | 90.0 | 180.0 | 0.50x |" in table
    assert "| SST-2 dev accuracy | 0.8612 | 0.85 | 1.01x |" in table
    assert "| tokenization ex/s over training ex/s | 200.0 |  |  |" in table
