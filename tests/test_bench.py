"""`python -m tfft.bench --mode=data` end to end, and the CLI contract for bad input: one line, exit code 2,
nothing written."""

import json
import pathlib
import subprocess
import sys

import pytest

from conftest import error_line

ROOT = pathlib.Path(__file__).parent.parent


def bench(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "tfft.bench", "--mode=data", "--model=all-MiniLM-L6-v2", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def test_data_bench_reports_shapes_padding_and_cache(tmp_path):
    out = tmp_path / "bench.jsonl"
    result = bench("--task=ner", "--dataset=sample", "--max_seq_length=64", f"--cache_dir={tmp_path}",
                   f"--output={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line == json.loads(out.read_text())
    assert line["examples"] == {"train": 300, "validation": 70, "test": 70}
    assert {tuple(s) for s in line["bucket"]["batch_shapes"]} <= {(32, 16), (32, 32), (32, 48), (32, 64)}
    assert line["max_length"]["batch_shapes"] == [[32, 64]]
    assert 0 < line["bucket"]["padding_share"] < line["max_length"]["padding_share"] < 1


@pytest.mark.parametrize("args,message", [
    (["--dataset=/no/such/dir"], "error: --dataset=/no/such/dir: no such file or directory"),
    (["--max_seq_length=abc"], "error: flag --max_seq_length=abc"),
    (["--task=translation"], "error: flag --task=translation"),
    (["--val_fraction=1.5"], "error: --val_fraction=1.5: expected a fraction strictly between 0 and 1"),
    (["--dataset={tmp}/empty.csv"], "error: {tmp}/empty.csv: the file is empty"),
    (["--dataset={tmp}/latin.tsv"], "error: {tmp}/latin.tsv:2: not valid UTF-8"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, message):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "latin.tsv").write_bytes("1\tfine\n0\tcaf\u00e9\n".encode("latin-1"))
    out = tmp_path / "out.jsonl"
    result = bench(*[a.format(tmp=tmp_path) for a in args], f"--output={out}", f"--cache_dir={tmp_path / 'cache'}")
    assert result.returncode == 2
    # TensorFlow's own C++ start-up notices (oneDNN, CUDA probes) may precede it; tfft's report is one line.
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(message.format(tmp=tmp_path)), result.stderr[-2000:]
    assert sum(line.startswith("error:") for line in lines) == 1 and "Traceback" not in result.stderr
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_tokenizer_bench_counts_mismatches_on_every_text():
    result = bench("--task=pair", "--dataset=sample", "--mode=tokenizer")
    assert result.returncode == 0, result.stderr[-2000:]
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["mode"] == "tokenizer" and line["texts"] == 2 * 480  # both texts of every pair of every split
    assert line["mismatches"] == 0 and set(line["seconds"]) == {"in_graph", "hugging_face"}


def test_serve_bench_compares_the_export_with_the_python_path(tiny_runs):
    result = bench("--mode=serve", f"--run_dir={tiny_runs['ner']}", "--examples=20", "--batch_size=8")
    assert result.returncode == 0, result.stderr[-2000:]
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["examples"] == 20 and set(line["examples_per_second"]) == {"saved_model", "python"}
    assert line["max_probability_difference"] < 1e-5 and line["differing_predictions"] == 0
    assert "--mode=serve needs --run_dir" in error_line(bench("--mode=serve"))
