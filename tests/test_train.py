"""`python -m tfft.train` end to end, for each task on a tiny model, and its bad-flag contract. The command runs in a
subprocess for a few cases (the real command: its flags, its output, the line it refuses with); the other runs are
the command run in this process (conftest in_process) or the session's trained runs (conftest
trained_runs), which skip TensorFlow's start-up."""

import functools
import json
import math
import pathlib
import shutil
import subprocess
import sys

import pytest

from conftest import error_line, in_process, refusal
from test_config import parsed

ROOT = pathlib.Path(__file__).parent.parent


def train(*args):
    return subprocess.run([sys.executable, "-m", "tfft.train", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture
def refused(monkeypatch):
    """refusal("train", ...) that never trains: flags that pass every check go on through start_run (which makes the
    run directory) and stop where main makes the strategy."""
    from tfft import train as command

    def accepted(distribute):
        raise AssertionError(f"tfft.train accepted the flags (--distribute={distribute})")

    monkeypatch.setattr(command, "make_strategy", accepted)
    return functools.partial(refusal, "train")


def assert_a_finished_run(out, task, size, metric):
    """What a run of 6 updates, evaluated every 3 and logged every 2, leaves in its directory."""
    assert (out / "best" / "config.json").is_file() and (out / "best" / "model.safetensors").is_file()
    assert json.loads((out / "best" / "config.json").read_text())["id2label"]
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert "checkpoint" in checkpoints and any(name.startswith("ckpt-6") for name in checkpoints)
    test_metrics = json.loads((out / "test_metrics.json").read_text())
    assert 0.0 <= test_metrics[metric] <= 1.0
    assert len((out / "test_predictions.jsonl").read_text().splitlines()) == size
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e["split"] == "train"] == [2, 4, 6]
    assert {e["step"] for e in events if e["split"] == "validation" and metric in e} >= {3, 6}
    assert json.loads((out / "config.json").read_text())["train"]["task"] == task
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(out / "tensorboard" / "train"), size_guidance={"tensors": 0})
    accumulator.Reload()
    assert {"loss", "learning_rate", "gradient_norm", "examples_per_second"} <= set(accumulator.Tags()["tensors"])


@pytest.mark.slow
@pytest.mark.parametrize("task,size,metric", [("classification", 80, "accuracy"), ("ner", 70, "f1")])
def test_each_task_end_to_end(trained_runs, task, size, metric):
    """The session's runs (conftest trained_runs: the flags below, made in this process); the pair task is the
    command's own run below."""
    assert_a_finished_run(trained_runs[task], task, size, metric)


@pytest.mark.slow
def test_the_command_end_to_end_with_a_custom_head_kept_in_best_and_exported(tmp_path, tiny_model):
    """The pair task by `python -m tfft.train` itself: the run's files, best/ keeps its attention head, and --export
    serves what the Python path predicts, with no path of this machine inside."""
    out = tmp_path / "run"
    result = train("--task=pair", f"--model={tiny_model}", "--dataset=sample", "--max_steps=6", "--batch_size=8",
                   "--eval_every=3", "--checkpoint_every=3", "--max_seq_length=64", "--log_every=2", "--lr=1e-3",
                   "--head=attention", "--export", f"--output_dir={out}", f"--cache_dir={tmp_path / 'cache'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert_a_finished_run(out, "pair", 80, "accuracy")
    assert json.loads((out / "best" / "tfft_head.json").read_text())["kind"] == "attention"
    assert json.loads((out / "best" / "config.json").read_text())["architectures"] == ["BertModel"]
    assert (out / "test_metrics.json").is_file()
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from tfft.serving.predictors import ModelPredictor

    serve = tf.saved_model.load(str(out / "export")).signatures["serving_default"]
    served = serve(text=tf.constant(["a man plays"]), text_pair=tf.constant(["someone plays music"]))
    python = ModelPredictor(out / "best", task="pair", max_length=64).predict(["a man plays"], ["someone plays music"])
    label = served["label"][0].numpy().decode()
    assert label == python[0]["label"]
    assert abs(float(tf.reduce_max(served["probabilities"][0])) - python[0]["probabilities"][label]) < 1e-5
    for path in (out / "export").rglob("*"):  # the run's, the model's and the cache's directories stay behind
        if path.is_file() and not path.name.startswith("variables.data"):
            assert str(tmp_path).encode() not in path.read_bytes(), path
    settings = json.loads((out / "export" / "assets" / "run_config.json").read_text())["train"]
    assert (settings["output_dir"], settings["cache_dir"], settings["model"]) == ("run", "cache", tiny_model.name)


@pytest.fixture(scope="module")
def mlm_run(tmp_path_factory, tiny_model):
    """A --task=mlm run of the tiny BERT (an encoder without a masked-LM head): its directory and the finished
    command (run in this process)."""
    tmp_path = tmp_path_factory.mktemp("mlm")
    out = tmp_path / "run"
    result = in_process("train", "--task=mlm", f"--model={tiny_model}", "--dataset=sample", "--max_steps=6",
                        "--batch_size=8", "--eval_every=3", "--max_seq_length=32", "--log_every=2", "--lr=1e-3",
                        "--whole_word_masking", f"--output_dir={out}", f"--cache_dir={tmp_path / 'cache'}")
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


@pytest.mark.slow
def test_continued_pretraining_end_to_end(mlm_run):
    """--task=mlm: validation perplexity before training (step 0) and after, best/ a masked-LM checkpoint."""
    out, _ = mlm_run
    config = json.loads((out / "best" / "config.json").read_text())
    assert config["architectures"] == ["BertForMaskedLM"]
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    validation = {e["step"]: e for e in events if e["split"] == "validation" and "perplexity" in e}
    assert sorted(validation) == [0, 3, 6]
    assert all(abs(math.exp(e["loss"]) - e["perplexity"]) < 1e-6 * e["perplexity"] for e in validation.values())
    assert validation[6]["perplexity"] < validation[0]["perplexity"]
    test_metrics = json.loads((out / "test_metrics.json").read_text())
    assert test_metrics["masked_tokens"] > 0 and 0 <= test_metrics["accuracy"] <= 1
    assert not (out / "test_predictions.jsonl").exists()
    assert "--whole_word_masking" in (out / "flags.txt").read_text().splitlines()
    report = in_process("report", f"--run_dir={out}")
    assert report.returncode == 0, report.stderr[-3000:]
    best = json.loads((out / "best_metrics.json").read_text())
    assert (f"| before training (step 0) | {validation[0]['perplexity']:.4f} |" in
            (out / "report.md").read_text())
    assert f"| adapted (this run) | {best['perplexity']:.4f} | {test_metrics['perplexity']:.4f} |" in (
        out / "report.md").read_text()


def test_an_encoder_without_a_masked_lm_head_says_so(mlm_run):
    _, result = mlm_run
    assert "has no masked-LM head (cls.predictions.bias" in result.stderr
    assert "it starts from the tied word embeddings (bias 0) with a freshly initialised transform" in result.stderr


@pytest.mark.parametrize("args,message", [
    (["--lr=-1"], "error: --lr=-1.0: expected a positive learning rate"),
    (["--batch_size=0"], "error: --batch_size=0: expected at least 1"),
    (["--freeze=top:3"], "error: --freeze='top:3': expected none, embeddings, all or bottom:N"),
    (["--freeze=bottom:7"], "error: --freeze=bottom:7: the model has only 2 transformer blocks"),
    (["--task=translation"], "error: flag --task=translation"),
    (["--task=ner", "--head=mlp"], "error: --head=mlp: expected hf / crf / lstm_crf for --task=ner"),
    (["--head=crf"], "error: --head=crf: expected hf / mlp / attention / mha / rnn / gru / lstm for --task=class"),
    (["--task=ner", "--head=crf", "--head_pooling=mean"], "error: --head_pooling=mean: expected nothing for"),
    (["--head=mha", "--bidirectional"], "error: --bidirectional=True: expected a recurrent head"),
    (["--head=hf", "--head_pooling=max"], "error: --head_pooling=max: expected nothing with --head=hf"),
    (["--task=ner", "--head=lstm_crf", "--label_all_subtokens"], "error: --label_all_subtokens=True: expected off"),
    (["--head=lstm", "--feature_cache=/tmp/x"], "error: --feature_cache=/tmp/x: expected auto or off unless --freeze"),
    (["--task=ner", "--metric_for_best=accuracy"], "error: --metric_for_best=accuracy: expected one of f1, precision"),
    (["--task=mlm", "--mlm_probability=0"], "error: --mlm_probability=0.0: expected a share strictly between 0 and 1"),
    (["--task=mlm", "--mlm_probability=1.2"], "error: --mlm_probability=1.2: expected a share strictly between"),
    (["--task=mlm", "--head=mlp"], "error: --head=mlp: expected hf for --task=mlm"),
    (["--task=mlm", "--export"], "error: --export=True: expected off with --task=mlm"),
    (["--task=mlm", "--freeze=all"], "error: --feature_cache=auto: expected off with --task=mlm --freeze=all"),
    (["--adafactor_relative_step"], "error: --adafactor_relative_step=True: expected off unless --optimizer=adafactor"),
    (["--optimizer=adafactor", "--adafactor_warmup_init"], "error: --adafactor_warmup_init=True: expected off unless "
     "--adafactor_relative_step"),
    (["--optimizer=adafactor", "--adafactor_decay_rate=0.8"], "error: --adafactor_decay_rate=0.8: expected a negative"),
    (["--lora_rank=0"], "error: --lora_rank=0: expected a rank of at least 1 (leave it unset for full fine-tuning)"),
    (["--lora_rank=-4"], "error: --lora_rank=-4: expected a rank of at least 1"),
    (["--lora_rank=8", "--lora_targets=query,q_lin"], "error: --lora_targets=query,q_lin: LoRA targets query,q_lin: "
     "unknown 'q_lin'; expected one or more of query, key, value, attention_output, ffn_in, ffn_out"),
    (["--lora_rank=8", "--freeze=all"], "error: --freeze=all: expected none with LoRA"),
    (["--lora_rank=8", "--task=mlm"], "error: --task=mlm: expected a labelled task with LoRA"),
    (["--lora_rank=8", "--init=random"], "error: --init=random: expected pretrained with LoRA"),
    (["--lora_alpha=32"], "error: --lora_alpha=32.0: expected its default unless --lora_rank or --lora_adapter"),
    (["--merge_lora"], "error: --merge_lora=True: expected its default unless --lora_rank or --lora_adapter"),
    (["--lora_rank=8", "--lora_adapter=/nonexistent"], "error: --lora_rank=8: expected unset with --lora_adapter"),
    (["--lora_adapter=/nonexistent"], "error: /nonexistent: not a PEFT adapter directory (adapter_config.json is "
     "missing)"),
])
def test_bad_flags_fail_before_any_work(tmp_path, tiny_model, refused, args, message):
    out = tmp_path / "run"
    assert refused(f"--model={tiny_model}", "--dataset=sample", f"--output_dir={out}", *args).startswith(message)
    assert not out.exists()


@pytest.mark.slow
def test_the_command_refuses_in_the_line_made_in_process_with_exit_code_2(tmp_path, tiny_model, refused):
    """The wiring of the cases above (absl's parse errors: tests/test_cli.py): the same line, exit code 2, no run
    directory. A check against the model (a setting's own check is the same code before it: the first case above)."""
    out = tmp_path / "run"
    args = (f"--model={tiny_model}", "--dataset=sample", f"--output_dir={out}", "--freeze=bottom:7")
    assert error_line(train(*args)) == refused(*args)
    assert not out.exists()


def test_a_model_directory_without_a_tokenizer_fails_before_any_work(tmp_path, tiny_model, refused):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("tokenizer*", "vocab.txt", "special_tokens*"))
    out = tmp_path / "run"
    assert refused(f"--model={model}", "--dataset=sample", f"--output_dir={out}") == (
        f"error: {model} has no tokenizer files (expected one of tokenizer.json, vocab.txt)")
    assert not out.exists()


def test_resume_with_other_settings_names_them_before_any_work(tmp_path, tiny_model, refused):
    from tfft.config import RunConfig, TrainConfig
    from tfft.data import DataConfig
    from tfft.runs import start_run

    out = tmp_path / "run"
    start_run(RunConfig(TrainConfig(model=str(tiny_model), output_dir=str(out)), DataConfig(dataset="sample")), out)
    before = {p.name: p.read_text() for p in out.iterdir()}
    assert refused(f"--flagfile={out / 'flags.txt'}", "--resume", "--lr=0.001", "--batch_size=4", "--log_every=5") == (
        f"error: --resume: --lr=0.001 (was 5e-05), --batch_size=4 (was 32) differs from the run in {out}; resume it "
        f"with its own flags: --flagfile={out / 'flags.txt'} --resume")
    assert {p.name: p.read_text() for p in out.iterdir()} == before


@pytest.mark.parametrize("args,message", [
    (["--dataset={tmp}/train.csv"], "error: {tmp}/train.csv:3: expected 2 fields (as on line 1), found 3; check "
     "--delimiter / --quoting"),
    (["--task=mlm", "--dataset=sample", "--label_names=a,b"], "error: --label_names=a,b: --task=mlm has no labels (the "
     "targets are the masked tokens)"),  # checked as the data is read (tfft/data/sources.py read_splits)
])
def test_bad_data_leaves_no_run_directory_behind(tmp_path, tiny_model, args, message):
    """The data is read after the run directory is made: the fresh directory goes again, so the corrected command
    needs no --overwrite. In this process (the command's own main, run to where it reads the data)."""
    (tmp_path / "train.csv").write_text("text,label\ngood,pos\nbad,neg,extra\n")
    out = tmp_path / "run"
    assert refusal("train", f"--model={tiny_model}", f"--output_dir={out}",
                   *[arg.format(tmp=tmp_path) for arg in args]) == message.format(tmp=tmp_path)
    assert not out.exists()


@pytest.mark.slow
def test_the_command_leaves_no_run_directory_behind_bad_data_either(tmp_path, tiny_model):
    """The first case above by `python -m tfft.train` itself: the same line, no run directory."""
    (tmp_path / "train.csv").write_text("text,label\ngood,pos\nbad,neg,extra\n")
    out = tmp_path / "run"
    args = (f"--model={tiny_model}", f"--output_dir={out}", f"--dataset={tmp_path}/train.csv")
    assert error_line(train(*args)) == refusal("train", *args)
    assert not out.exists()


def test_a_flagfile_line_without_dashes_is_refused_not_ignored(tmp_path, tiny_model, refused):
    flagfile = tmp_path / "run.cfg"
    flagfile.write_text(f"--model={tiny_model}\n--dataset=sample\nlr=1e-4\n")
    assert refused(f"--flagfile={flagfile}", f"--output_dir={tmp_path / 'run'}") == (
        "error: unexpected argument 'lr=1e-4': flags are --name=value (in a flagfile too, one per line)")


def test_offline_default_model_names_the_quickstart(tmp_path, refused, monkeypatch):
    import huggingface_hub

    # HF_HUB_OFFLINE=1 and an empty HF_HUB_CACHE, as huggingface_hub reads them when it loads (it has by now)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    assert "--flagfile=flags/quickstart_ner.cfg" in refused("--task=ner", f"--output_dir={tmp_path / 'run'}")


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_with_xla_stays_finite(tmp_path, tiny_model, precision):
    """In this process; 16 tokens: one length to compile (XLA compiles each), and no test split to evaluate."""
    out = tmp_path / "run"
    result = in_process("train", "--task=classification", f"--model={tiny_model}", "--dataset=sample",
                        "--max_steps=4", "--batch_size=8", "--max_seq_length=16", "--log_every=1", "--lr=1e-3",
                        f"--precision={precision}", "--xla", "--noevaluate_test", f"--output_dir={out}",
                        f"--cache_dir={tmp_path / 'cache'}")
    assert result.returncode == 0, result.stderr[-3000:]
    train_events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
                    if json.loads(line)["split"] == "train"]
    assert len(train_events) == 4
    assert all(0 < e["loss"] < 10 and e["gradient_norm"] < 1e6 for e in train_events)
    assert {e["loss_scale"] for e in train_events} <= ({1.0} if precision == "bf16" else {2.0 ** 15, 2.0 ** 14})


@pytest.mark.slow
def test_crf_run_decodes_viterbi_paths_in_the_saved_model(tmp_path, tiny_model):
    """A BiLSTM-CRF over a frozen encoder (cached features): best/ keeps the head; the export decodes in the graph,
    agrees with the Python path word for word, and never emits I-X after anything but B-X / I-X. In this process."""
    out = tmp_path / "run"
    result = in_process("train", "--task=ner", f"--model={tiny_model}", "--dataset=sample", "--max_steps=8",
                        "--batch_size=8", "--max_seq_length=64", "--head=lstm_crf", "--bidirectional",
                        "--head_hidden=16", "--freeze=all", f"--feature_cache={tmp_path / 'features'}", "--lr=1e-2",
                        "--export", f"--output_dir={out}", f"--cache_dir={tmp_path / 'cache'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((out / "best" / "tfft_head.json").read_text())["kind"] == "lstm_crf"
    import tensorflow_text  # noqa: F401

    from tfft.serving.predictors import ModelPredictor, SavedModelPredictor

    texts = ["John Smith flew to Paris with Mary .", "Berlin is big", "the cat sat on the mat in Rome today ."]
    served = SavedModelPredictor(out / "export").predict(texts)
    python = ModelPredictor(out / "best", task="ner", max_length=64).predict(texts)
    for ours, reference in zip(served, python):
        assert ours["words"] == reference["words"]
        tags = [tag for _, tag in ours["words"]]
        for previous, tag in zip(["O"] + tags, tags):
            assert not tag.startswith("I-") or previous in (f"B-{tag[2:]}", tag)
    from tfft.studies.evaluation import EvalConfig, evaluate_run

    reloaded, _ = evaluate_run(EvalConfig(run_dir=str(out), split="test", output_dir=str(tmp_path / "eval")))
    reported = json.loads((out / "test_metrics.json").read_text())
    assert reloaded["f1"] == reported["f1"] and abs(reloaded["loss"] - reported["loss"]) < 1e-5


@pytest.mark.slow
def test_early_stopping_after_patience_evaluations_without_improvement(tmp_path, tiny_model):
    """With a learning rate of 1e-12 the metric cannot improve after the first evaluation: patience 2 stops at 3.
    In this process, and no test split to evaluate."""
    out = tmp_path / "run"
    result = in_process("train", "--task=classification", f"--model={tiny_model}", "--dataset=sample",
                        "--max_steps=15", "--batch_size=8", "--max_seq_length=64", "--lr=1e-12", "--eval_every=1",
                        "--early_stopping_patience=2", "--noevaluate_test", f"--output_dir={out}",
                        f"--cache_dir={tmp_path / 'cache'}")
    assert result.returncode == 0, result.stderr[-3000:]
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert sorted({e["step"] for e in events if e["split"] == "validation" and "accuracy" in e}) == [1, 2, 3]
    assert json.loads((out / "best_metrics.json").read_text())["step"] == 1


def test_flags_txt_repeats_the_run(tmp_path):
    import dataclasses

    from tfft import cli
    from tfft.config import ConfigFlagError, RunConfig, TrainConfig
    from tfft.data import DataConfig
    from tfft.train import train_config

    run = RunConfig(TrainConfig(task="ner", model="m", lr=3e-5, clip_norm=None, max_steps=7, xla=True, seed=4),
                    DataConfig(dataset="d", label_names="a,b", train_label_fraction=None, seed=4))
    (tmp_path / "flags.txt").write_text(run.to_flags())
    values = parsed(f"--flagfile={tmp_path / 'flags.txt'}")
    assert RunConfig(train_config(values), cli.data_config(values)) == run
    with pytest.raises(ConfigFlagError, match="--train_on_validation: expected --select=last"):
        dataclasses.replace(run, data=dataclasses.replace(run.data, train_on_validation=True))
