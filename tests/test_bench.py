"""`python -m tfft.bench` end to end on tiny configurations: every mode's JSON fields, the traces and batch lengths
the bucket set allows, and the CLI contract for bad input: one line, exit code 2, nothing written (checked in this
process, the command itself for a few). The modes run in this process (`bench_line`: the command's own flag parsing
and main, without a TensorFlow start-up each); speed is never asserted, so the matmul peak MFU is measured against
is taken at a smaller size."""

import functools
import json
import pathlib
import runpy
import sys

import pytest

from conftest import commands_at_once, error_line, finished_process, in_process, refusal

ROOT = pathlib.Path(__file__).parent.parent
MINILM = "all-MiniLM-L6-v2"  # packaged


def bench_args(*args, model=MINILM) -> list[str]:
    """The flags of a bench run: --mode=pipeline unless ARGS say otherwise."""
    return ["--mode=pipeline", f"--model={model}", *args]


def run_bench(argv: list[str]) -> dict:
    """The JSON line `python -m tfft.bench ARGV` prints, made in this process (conftest in_process)."""
    result = in_process("bench", *argv)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_line(*args, model=MINILM) -> dict:
    """A bench run's JSON line (run_bench), which reports the process's peak resident memory and its CPU."""
    line = run_bench(bench_args(*args, model=model))
    assert line["peak_rss_mb"] > 100
    assert set(line["cpu"]) == {"model", "isa", "cores", "onednn_max_cpu_isa"}
    return line


@pytest.fixture(autouse=True)
def small_matmul_peak(monkeypatch):
    """The matmul peak of --mode=train_step / infer at 1024^2 instead of 2048^2, 3 timed calls instead of 7 (0.4 s
    instead of 6 s on 2 busy cores, per dtype and run); the JSON fields and MFU's arithmetic are the same."""
    from tfft import bench as bench_module
    from tfft.benchmarks import matmul_peak

    monkeypatch.setattr(bench_module, "matmul_peak", functools.partial(matmul_peak, size=1024, repeats=3))


LADDER = {16, 32, 48, 64}  # the 'auto' lengths under XLA at --max_seq_length=64


@pytest.mark.parametrize("xla", [False, True])
def test_pipeline_bench_reports_shapes_padding_speed_and_cache(tmp_path, xla):
    out = tmp_path / "bench.jsonl"
    line = bench_line("--task=ner", "--dataset=sample", "--max_seq_length=64", f"--cache_dir={tmp_path}",
                      f"--output={out}", f"--xla={xla}")
    assert line == json.loads(out.read_text())
    assert line["examples"] == {"train": 300, "validation": 70, "test": 70}
    lengths = {length for batch, length in line["bucket"]["batch_shapes"] if batch == 32}
    assert lengths <= LADDER if xla else len(lengths) > len(LADDER)  # without XLA any length: a batch's longest
    assert line["max_length"]["batch_shapes"] == [[32, 64]]
    assert 0 < line["bucket"]["padding_share"] < line["max_length"]["padding_share"] < 1
    assert line["tokenize_examples_per_second"] > 0 and line["bucket"]["batching_examples_per_second"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classification", "ner"])
def test_train_step_bench_times_the_real_step(tiny_model, task):
    line = bench_line("--mode=train_step", f"--task={task}", "--batch_size=4", "--max_seq_length=16", "--calls=3",
                      "--warmup_calls=1", model=tiny_model)
    assert line["mode"] == "train_step" and line["task"] == task and line["seq_length"] == 16
    # the tiny BERT: 2 blocks, width 32, feed-forward 37; forward matmuls x3 (tests/test_benchmarks.py checks this)
    assert line["flops_per_step"] == 3 * 2 * (2 * 64 * (4 * 32 * 32 + 2 * 32 * 37) + 4 * 4 * 16 * 16 * 32)
    assert line["step_seconds"] > 0 and line["examples_per_second"] == pytest.approx(4 / line["step_seconds"], 0.01)
    assert line["tokens_per_second"] == pytest.approx(16 * line["examples_per_second"], 0.01)
    peak = line["matmul_peak_gflops"]["float32"]
    assert peak["peak"] == max(peak["graph"], peak["xla"]) > 0
    assert line["mfu"] == pytest.approx(line["gflops_per_second"] / peak["peak"], abs=0.002)
    assert line["traces"]["gradients"] == 1 and line["trainable_parameters"] > 30522 * 32


def measured_in_process(command: list[str]) -> dict:
    """bench._json_line (the JSON line a measurement process prints) with the process made in this one: `python -m
    tfft.bench ARGS` through run_bench, the PyTorch peer script as __main__ with its command line, torch's random
    state and thread count as before afterwards. The commands are bench_memory's own."""
    if command[:3] == [sys.executable, "-m", "tfft.bench"]:
        return run_bench(command[3:])
    import torch

    assert command[0] == sys.executable and command[1].endswith("peer_torch_memory.py"), command
    threads = torch.get_num_threads()
    try:
        with torch.random.fork_rng(), pytest.MonkeyPatch.context() as patch:
            patch.setattr(sys, "argv", command[1:])
            result = finished_process(command[1:], lambda: runpy.run_path(command[1], run_name="__main__"))
    finally:
        torch.set_num_threads(threads)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_memory_bench_measures_each_configuration_beside_the_pytorch_peer(tiny_model, monkeypatch):
    """Full fine-tuning against LoRA on the tiny BERT: the trainable parameters (counted independently here), the
    saved sizes (all weights vs the adapters and head), and the PyTorch + PEFT peer's counts agreeing with tfft's.
    Each configuration's tfft and peer measurement runs in this process (measured_in_process), not in a process of
    its own: the peak memory per process is not what is checked."""
    pytest.importorskip("peft")
    from tfft import bench as bench_module

    monkeypatch.setattr(bench_module, "_json_line", measured_in_process)
    line = bench_line("--mode=memory", "--memory_configs=full,lora", "--batch_size=2", "--max_seq_length=16",
                      "--calls=1", "--warmup_calls=1", model=tiny_model)
    full, lora = line["rows"]
    assert (full["config"], lora["config"]) == ("full", "lora")
    hidden, blocks, adapters = 32, 2, 2  # the tiny BERT; rank-8 adapters on query and value
    lora_parameters = blocks * adapters * 8 * (hidden + hidden) + hidden * 2 + 2  # + the 2-label classifier
    assert lora["tfft"]["trainable_parameters"] == lora["peer"]["trainable_parameters"] == lora_parameters
    assert full["tfft"]["trainable_parameters"] == full["peer"]["trainable_parameters"] > 30522 * hidden
    assert lora["tfft"]["lora_rank"] == 8 and full["tfft"]["lora_rank"] is None
    # best/: every weight in float32 (~4 bytes each, pooler included) vs the adapters and head only
    assert full["tfft"]["saved_bytes"] > 4 * full["tfft"]["trainable_parameters"]
    assert 4 * lora_parameters < lora["tfft"]["saved_bytes"] < 4 * lora_parameters + 20_000
    for row in (full, lora):
        for side in ("tfft", "peer"):
            assert row[side]["train_peak_rss_mb"] > 100 and row[side]["examples_per_second"] > 0, row[side]


def test_memory_bench_names_an_unknown_configuration(tiny_model):
    line = refusal("bench", *bench_args("--mode=memory", "--memory_configs=full,qlora", model=tiny_model))
    assert line == "error: --memory_configs: unknown 'qlora'; expected any of full, recompute, lora, lora_recompute, " \
                   "adafactor"


@pytest.mark.slow
def test_infer_bench_times_python_and_saved_model(tiny_model):
    line = bench_line("--mode=infer", "--batch_size=4", "--max_seq_length=16", "--calls=3", "--warmup_calls=1",
                      "--precision=bf16", model=tiny_model)
    assert set(line["matmul_peak_gflops"]) == {"float32", "bfloat16"}
    for path in ("python", "saved_model"):
        assert line[path]["batch_seconds"] > 0 and 0 < line[path]["mfu"]
        assert line[path]["examples_per_second"] == pytest.approx(4 / line[path]["batch_seconds"], 0.01)


@pytest.mark.slow
@pytest.mark.parametrize("xla", [False, True])
def test_epoch_bench_runs_the_loop_within_the_bucket_set(tmp_path, tiny_model, xla):
    line = bench_line("--mode=epoch", "--task=classification", "--dataset=sample", "--max_seq_length=64",
                      "--max_train_examples=48", "--batch_size=16", f"--xla={xla}", f"--cache_dir={tmp_path}",
                      model=tiny_model)
    assert line["examples"] > 0 and line["updates"] == -(-line["examples"] // 16)  # every example once
    assert 0 < line["train_seconds"] < line["wall_seconds"] and 0 <= line["input_wait_share"] < 1
    assert 0 < line["padding_share"] < 0.5 and line["examples_per_second"] > 0
    assert set(line["seconds"]) >= {"loop", "input", "evaluation"}
    assert 0 <= line["validation"]["accuracy"] <= 1
    lengths = set(line["batch_lengths"])
    if xla:  # every shape compiles: never more compiles than lengths in the bucket set
        assert lengths <= LADDER and line["traces"]["gradients"] <= len(lengths)
    else:  # one trace for any length
        assert line["traces"] == {"gradients": 1, "predict": 1}


@pytest.mark.slow
def test_head_epoch_bench_times_the_frozen_encoder_against_its_cache(tmp_path, tiny_model):
    line = bench_line("--mode=head_epoch", "--task=classification", "--dataset=sample", "--max_seq_length=64",
                      "--max_train_examples=32", "--batch_size=16", "--head=gru", "--head_hidden=8",
                      "--feature_dtype=fp32", f"--cache_dir={tmp_path}", model=tiny_model)
    seconds = line["epoch_train_seconds"]
    assert set(seconds) == {"uncached", "first_pass", "cached"} and all(value > 0 for value in seconds.values())
    assert line["speedup_per_epoch"] == round(seconds["uncached"] / seconds["cached"], 1)
    assert line["features_seconds"]["compute_and_write"] > 0 and line["features_seconds"]["read"] > 0
    assert line["cache_mb"] > 0 and line["head"] == "gru" and line["freeze"] == "all"
    # the same weights and batches either way, no dropout in a frozen encoder: the same validation numbers
    assert line["validation"]["uncached"]["accuracy"] == line["validation"]["cached"]["accuracy"]


def bad_input(tmp_path, args) -> list[str]:
    """ARGS with {tmp} made tmp_path, which now holds an empty CSV and a Latin-1 TSV, and --output and --cache_dir
    there."""
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "latin.tsv").write_bytes("1\tfine\n0\tcaf\u00e9\n".encode("latin-1"))
    return [*[a.format(tmp=tmp_path) for a in args], f"--output={tmp_path / 'out.jsonl'}",
            f"--cache_dir={tmp_path / 'cache'}"]


@pytest.mark.parametrize("args,message", [
    (["--dataset=/no/such/dir"], "error: --dataset=/no/such/dir: no such file or directory"),
    (["--max_seq_length=abc"], "error: flag --max_seq_length=abc"),
    (["--task=translation"], "error: flag --task=translation"),
    (["--val_fraction=1.5"], "error: --val_fraction=1.5: expected a fraction strictly between 0 and 1"),
    (["--dataset={tmp}/empty.csv"], "error: {tmp}/empty.csv: the file is empty"),
    (["--dataset={tmp}/latin.tsv"], "error: {tmp}/latin.tsv:2: not valid UTF-8"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, message):
    assert refusal("bench", *bench_args(*bad_input(tmp_path, args))).startswith(message.format(tmp=tmp_path))
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "cache").exists()


@pytest.mark.slow
def test_the_command_refuses_in_the_line_made_in_process_with_exit_code_2(tmp_path):
    """`python -m tfft.bench` itself on absl's refusal and on the data's (two processes at once)."""
    cases = []
    for name, args in (("flag", ["--max_seq_length=abc"]), ("data", ["--dataset={tmp}/latin.tsv"])):
        (tmp_path / name).mkdir()
        cases.append((name, bad_input(tmp_path / name, args)))
    results = commands_at_once(*([sys.executable, "-m", "tfft.bench", *bench_args(*args)] for _, args in cases),
                               cwd=ROOT)
    for (name, args), result in zip(cases, results):
        # TensorFlow's own C++ start-up notices (oneDNN, CUDA probes) may precede it; tfft's report is one line.
        assert error_line(result) == refusal("bench", *bench_args(*args))
        assert sum(line.startswith("error:") for line in result.stderr.splitlines()) == 1
        assert not (tmp_path / name / "out.jsonl").exists() and not (tmp_path / name / "cache").exists()


@pytest.mark.slow
def test_tokenizer_bench_counts_mismatches_on_every_text():
    line = bench_line("--task=pair", "--dataset=sample", "--mode=tokenizer")
    assert line["mode"] == "tokenizer" and line["texts"] == 2 * 480  # both texts of every pair of every split
    assert line["mismatches"] == 0 and set(line["seconds"]) == {"in_graph", "hugging_face"}


@pytest.mark.slow
def test_serve_bench_compares_the_export_with_the_python_path(tiny_runs):
    line = bench_line("--mode=serve", f"--run_dir={tiny_runs['ner']}", "--examples=20", "--batch_size=8")
    assert line["examples"] == 20 and set(line["examples_per_second"]) == {"saved_model", "python"}
    assert line["max_probability_difference"] < 1e-5 and line["differing_predictions"] == 0
    assert "--mode=serve needs --run_dir" in refusal("bench", *bench_args("--mode=serve"))
