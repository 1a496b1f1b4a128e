"""`python -m tfft.predict` end to end on files and arguments, from an export and from a run (the Python path). The
command itself runs for a file and for one refusal; the other cases run it in this process (tests/test_cli.py
in_process: the same flag parsing, logging and main, no TensorFlow start-up)."""

import json
import pathlib
import re
import subprocess
import sys

import pytest

from conftest import error_line, in_process

ROOT = pathlib.Path(__file__).parent.parent


def predict(*args):
    return subprocess.run([sys.executable, "-m", "tfft.predict", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def progress(result) -> tuple[int, int]:
    """(done, total) of the progress bar's last state on stderr."""
    done, total = re.findall(r"\| *(\d+)/(\d+) \[", result.stderr)[-1]
    return int(done), int(total)


def records(result):
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.slow
def test_a_text_file_from_the_export_and_from_the_run_give_the_same_records(tmp_path, tiny_runs, tiny_exports):
    texts = ["Angela Merkel visited Paris .", "", "Zoë Saldaña flew to São Paulo", "word " * 60]
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "out" / "pred.jsonl"
    result = predict(f"--model_dir={tiny_exports['ner']}", f"--input_file={tmp_path / 'in.txt'}",
                     f"--output_file={out}", "--batch_size=2")
    assert result.returncode == 0, result.stderr[-3000:]
    served = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    python = records(in_process("predict", f"--model_dir={tiny_runs['ner']}", f"--input_file={tmp_path / 'in.txt'}"))
    assert [r["text"] for r in served] == [t for t in texts if t.strip()]  # blank lines are skipped
    assert progress(result) == (3, 3)
    for a, b in zip(served, python):
        assert a["words"] == b["words"] and a["truncated"] == b["truncated"]
        assert [(e["type"], e["start"], e["end"], e["text"]) for e in a["entities"]] == [
            (e["type"], e["start"], e["end"], e["text"]) for e in b["entities"]]
        for entity in a["entities"]:
            assert a["text"][entity["start"]:entity["end"]] == entity["text"]
    assert served[-1]["truncated"] and not served[0]["truncated"]


@pytest.mark.slow
def test_arguments_and_jsonl_pairs_with_blank_texts_skipped_alike(tmp_path, tiny_exports):
    """Empty or whitespace-only texts (a pair: either text), arguments and lines alike, are skipped with one warning
    naming their places; the progress bar counts the texts predicted."""
    result = in_process("predict", f"--model_dir={tiny_exports['classification']}", "", "a fine film", "a dull film",
                        "  \t ")
    got = records(result)
    assert [r["text"] for r in got] == ["a fine film", "a dull film"]
    assert all(set(r["probabilities"]) == {"negative", "positive"} and r["label"] in r["probabilities"] for r in got)
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-5 for r in got)
    assert "skipped 2 blank texts (empty or whitespace only): argument 1, argument 4\n" in result.stderr
    lines = [{"text": "a man plays", "text_pair": "someone plays"}, {"text": " ", "text_pair": "x"},
             {"text": "x", "text_pair": ""}, {"text": "x", "text_pair": "y"}]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines[:2]) + "\n\n   \n"
                    + "\n".join(json.dumps(line) for line in lines[2:]) + "\n")
    result = in_process("predict", f"--model_dir={tiny_exports['pair']}", f"--input_file={path}", "--batch_size=1")
    got = records(result)
    assert [(r["text"], r["text_pair"]) for r in got] == [(line["text"], line["text_pair"]) for line in lines[::3]]
    places = ", ".join(f"{path}:{line}" for line in (2, 3, 4, 5))
    assert f"skipped 4 blank texts (empty or whitespace only): {places}\n" in result.stderr
    assert progress(result) == (2, 2)
    tab = records(in_process("predict", f"--model_dir={tiny_exports['pair']}", "a man plays\tsomeone plays"))
    assert tab[0]["probabilities"] == got[0]["probabilities"]


def test_the_python_path_works_from_a_runs_best_directory(tiny_runs, tiny_exports):
    best = records(in_process("predict", f"--model_dir={tiny_runs['classification'] / 'best'}", "a fine film"))
    served = records(in_process("predict", f"--model_dir={tiny_exports['classification']}", "a fine film"))
    assert best[0]["label"] == served[0]["label"]
    assert all(abs(best[0]["probabilities"][k] - p) < 1e-5 for k, p in served[0]["probabilities"].items())


@pytest.mark.parametrize("setup,args,message", [
    (None, ["--input_file={tmp}/missing.txt"], "error: --input_file={tmp}/missing.txt: no such file"),
    ("latin", ["--input_file={tmp}/latin.txt"], "error: {tmp}/latin.txt:2: not UTF-8"),
    ("badjson", ["--input_file={tmp}/bad.jsonl"], "error: {tmp}/bad.jsonl:3: expected a JSON object with "
                                                   "string text"),
    (None, [], "error: give texts as arguments or --input_file=FILE"),
])
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, tiny_exports, setup, args, message):
    (tmp_path / "latin.txt").write_bytes("fine\ncaf\u00e9\n".encode("latin-1"))
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n\n{"txt": "no"}\n')
    out = tmp_path / "out.jsonl"
    result = in_process("predict", f"--model_dir={tiny_exports['classification']}", f"--output_file={out}",
                        *[a.format(tmp=tmp_path) for a in args])
    assert error_line(result).startswith(message.format(tmp=tmp_path)), result.stderr[-2000:]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


@pytest.mark.slow
def test_the_command_refuses_bad_input_in_the_line_made_in_process(tmp_path, tiny_exports):
    """The third case above by `python -m tfft.predict` itself: the same line, exit code 2, no output."""
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n\n{"txt": "no"}\n')
    out = tmp_path / "out.jsonl"
    args = (f"--model_dir={tiny_exports['classification']}", f"--output_file={out}",
            f"--input_file={tmp_path}/bad.jsonl")
    assert error_line(predict(*args)) == error_line(in_process("predict", *args))
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_model_dirs_that_are_not_models(tmp_path, tiny_runs):
    assert error_line(in_process("predict", f"--model_dir={tmp_path}", "text")) == (
        f"error: {tmp_path} is not a SavedModel export, a tfft run directory or a run's best/ model")
    (tmp_path / "config.json").write_text((tiny_runs["ner"] / "config.json").read_text())
    assert "has no best model" in error_line(in_process("predict", f"--model_dir={tmp_path}", "text"))


def test_a_pair_model_needs_tab_separated_pairs(tiny_exports):
    result = in_process("predict", f"--model_dir={tiny_exports['pair']}", "a\tb", "no tab here")
    assert error_line(result) == "error: argument 2: the pair task needs text<TAB>text_pair"


def test_fill_mask_top_k_equals_transformers(tmp_path, minilm_dir):
    """--task=mlm on a Hugging Face masked-LM directory: the fillers and probabilities of PyTorch's model."""
    import torch
    import transformers

    from conftest import randomize_torch

    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=37, max_position_embeddings=64)
    torch_model = transformers.BertForMaskedLM(config).eval()
    randomize_torch(torch_model, seed=5)
    torch_model.save_pretrained(tmp_path / "mlm")
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm_dir)
    tokenizer.save_pretrained(tmp_path / "mlm")
    texts = ["the capital of france is [MASK] .", "[MASK] cats and [MASK] dogs"]
    got = records(in_process("predict", f"--model_dir={tmp_path / 'mlm'}", "--task=mlm", "--top_k=3", *texts))
    for text, record in zip(texts, got):
        encoded = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            probabilities = torch.softmax(torch_model(**encoded).logits[0], -1)
        positions = (encoded["input_ids"][0] == tokenizer.mask_token_id).nonzero()[:, 0].tolist()
        assert [m["position"] for m in record["masks"]] == positions
        for found, position in zip(record["masks"], positions):
            top = torch.topk(probabilities[position], 3)
            assert [f["token"] for f in found["fillers"]] == tokenizer.convert_ids_to_tokens(top.indices.tolist())
            assert max(abs(f["probability"] - p) for f, p in zip(found["fillers"], top.values.tolist())) < 1e-5
        assert "[MASK]" not in record["filled"] and record["truncated"] is False
    assert error_line(in_process("predict", f"--model_dir={tmp_path / 'mlm'}", "--task=mlm", "no mask here")) == (
        "error: 'no mask here' has no [MASK] token to fill")


def test_fill_mask_bad_input(tmp_path, tiny_runs):
    assert error_line(in_process("predict", f"--model_dir={tiny_runs['classification']}", "--task=mlm",
                                 "a [MASK]")) == (
        f"error: --task=mlm: {tiny_runs['classification']} was trained for --task=classification")
    assert error_line(in_process("predict", f"--model_dir={tmp_path}", "--task=mlm", "a [MASK]")) == (
        f"error: {tmp_path} is not a SavedModel export, a tfft run directory or a run's best/ model")
    hf_model = tiny_runs["classification"] / "best"  # a Hugging Face directory, alone: not a run's best/
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "config.json").write_text((hf_model / "config.json").read_text())
    assert error_line(in_process("predict", f"--model_dir={alone}", "a [MASK]")) == (
        f"error: {alone} is not a SavedModel export, a tfft run directory or a run's best/ model (a Hugging Face "
        "masked-LM directory needs --task=mlm)")
