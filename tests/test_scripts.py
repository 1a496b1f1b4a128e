"""The study scripts end to end in --smoke mode (the embedded samples, a few steps each): each one command that
ends in a report holding what its study is about; and the table of scripts/bench_vs_peers.py."""

import importlib.util
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).parent.parent


def study(script: str, out: pathlib.Path, *args):
    result = subprocess.run([sys.executable, f"scripts/{script}", "--smoke", f"--output_dir={out}",
                             f"--cache_dir={out / 'cache'}", *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=1200)
    assert result.returncode == 0, result.stderr[-4000:]
    assert (out / "report.md").is_file() and (out / "report.html").is_file()
    return (out / "report.md").read_text()


def test_learning_rate_study(tmp_path):
    report = study("study_learning_rate.py", tmp_path / "lr")
    assert "| rank | lr | validation accuracy |" in report
    for kind in ("majority", "tfidf_logreg", "frozen_probe", "untrained"):
        assert f"| baseline: {kind} |" in report
    assert "Training and validation loss" in report and "Most confident mistakes" in report
    assert "Example predictions" in report


def test_head_only_study_compares_class_weights(tmp_path):
    report = study("study_head_only.py", tmp_path / "head")
    assert "| class weights: none |" in report and "| class weights: balanced |" in report
    refit = json.loads((tmp_path / "head" / "class_weights_balanced" / "refit" / "config.json").read_text())
    assert refit["train"]["freeze"] == "all" and refit["train"]["class_weights"] == "balanced"
    assert refit["data"]["train_label_fraction"] == "positive:0.1" and refit["data"]["train_on_validation"]


def test_freeze_study_on_pairs(tmp_path):
    report = study("study_freeze_pairs.py", tmp_path / "freeze")
    chosen = json.loads((tmp_path / "freeze" / "freeze" / "result.json").read_text())["pick"]["params"]["freeze"]
    assert f"stage 2: lr and optimizer with --freeze={chosen}" in report
    for column in ("test accuracy", "test f1_macro", "test precision_macro", "test recall_macro"):
        assert column in report
    stage2 = json.loads((tmp_path / "freeze" / "optimizer" / "sweep.json").read_text())
    assert len(stage2["runs"]) == 4 and all(r["status"] == "finished" for r in stage2["runs"])


def test_ner_study(tmp_path):
    report = study("study_ner.py", tmp_path / "ner")
    assert "Test scores per entity type" in report and "| baseline: tfidf_logreg |" in report
    html = (tmp_path / "ner" / "report.html").read_text()
    assert '<mark class="entity' in html


def test_bench_vs_peers_table_puts_each_target_beside_its_peer():
    spec = importlib.util.spec_from_file_location("bench_vs_peers", ROOT / "scripts/bench_vs_peers.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    names = [name for name, _ in script.tfft_runs(pathlib.Path("data"))]
    assert "train_step distilbert-random xla" in names and names[-2:] == ["epoch sst2", "pipeline sst2"]
    results = {
        "train_step minilm": {"examples_per_second": 15.0, "mfu": 0.7},
        "train_step minilm xla": {"examples_per_second": 13.0, "mfu": 0.6},
        "peer minilm": {"train_examples_per_s": 12.0, "infer_examples_per_s": 50.0},
        "infer minilm": {"python": {"examples_per_second": 60.0}, "saved_model": {"examples_per_second": 55.0}},
        "epoch sst2": {"train_seconds": 90.0, "padding_share": 0.02, "validation": {"accuracy": 0.86123},
                       "input_wait_share": 0.001, "examples_per_second": 70.0},
        "peer finetune sst2": {"train_s": 180.0, "padding_share": 0.5, "dev_accuracy": 0.85},
        "pipeline sst2": {"tokenize_examples_per_second": 14000.0},
    }
    table = script.table(results).splitlines()
    assert "| minilm train ex/s (MFU 70%) | 15.0 | 12.0 | 1.25x |" in table
    assert "| minilm xla train ex/s (MFU 60%) | 13.0 |  |  |" in table  # the peer has no XLA run
    assert "| minilm inference ex/s, saved_model | 55.0 | 50.0 | 1.10x |" in table
    assert "| SST-2 epoch train seconds | 90.0 | 180.0 | 0.50x |" in table
    assert "| SST-2 dev accuracy | 0.8612 | 0.85 | 1.01x |" in table
    assert "| tokenization ex/s over training ex/s | 200.0 |  |  |" in table
