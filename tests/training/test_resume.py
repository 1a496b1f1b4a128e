"""Deterministic resume: N updates, an interruption, a resumed run to 2N updates end with exactly the weights of
an uninterrupted 2N-update run (op determinism, so in a subprocess: it is process-wide); also with a custom head
trained on cached encoder features, for masked-LM training under XLA (the masks of the resumed batches are
drawn again, identically), with Adafactor's factored slots, and with --recompute switched on for the resumed half
(recomputed blocks replay their dropout masks: the updates are bit-identical), LoRA adapters included."""

import json
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest

ROOT = pathlib.Path(__file__).parent.parent.parent

SCRIPT = r'''
import dataclasses, json, pathlib, sys, tempfile
import numpy as np
from tfft.checkpoints.io import save_pretrained
from tfft.config import RunConfig, TrainConfig
from tfft.data import DataConfig
from tfft.models import BertConfig, build_model
from tfft.tokenization import load_tokenizer
from tfft.training.loop import train_and_evaluate

root = pathlib.Path(tempfile.mkdtemp())
model_dir = root / "tiny"
config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=37, max_position_embeddings=128)
save_pretrained(build_model(config, "encoder", seed=1), model_dir, tokenizer=load_tokenizer("all-MiniLM-L6-v2"))
train = TrainConfig(**{**dict(task="classification", model=str(model_dir), max_steps=8, batch_size=16,
                             max_seq_length=64, lr=1e-3, checkpoint_every=100, deterministic=True, eval_every=4,
                             cache_dir=str(root / "cache")), **json.loads(sys.argv[1])})
run = RunConfig(train, DataConfig(dataset="sample"))  # 20 batches per epoch: the interruption is mid-epoch

def run_dir(name):
    path = root / name
    path.mkdir()
    return path

full = run_dir("full")
train_and_evaluate(run, full)
resumed = run_dir("resumed")
assert train_and_evaluate(run, resumed, interrupt=lambda step: step == 3) == {"interrupted_at": 3}
switched = dataclasses.replace(train, **json.loads(sys.argv[2]))  # settings the resumed half may change
train_and_evaluate(RunConfig(switched, run.data), resumed, resume=True)
import tensorflow as tf
a = tf.train.load_checkpoint(str(full / "checkpoints"))
b = tf.train.load_checkpoint(str(resumed / "checkpoints"))
names = [n for n, _ in tf.train.list_variables(str(full / "checkpoints")) if n.startswith("model/")]
assert names
worst = max(float(np.abs(a.get_tensor(n) - b.get_tensor(n)).max()) for n in names)
assert worst == 0.0, worst
assert (full / "test_metrics.json").read_text() == (resumed / "test_metrics.json").read_text()
print("ok", len(names))
'''


@pytest.mark.parametrize("options,on_resume", [
    ({}, {}),
    ({"head": "lstm", "bidirectional": True, "freeze": "all"}, {}),
    ({"task": "mlm", "whole_word_masking": True, "xla": True}, {}),
    ({"optimizer": "adafactor", "adafactor_beta1": 0.9}, {}),
    ({}, {"recompute": True}),  # recomputed blocks train exactly as stored activations do
    ({"lora_rank": 4, "lora_targets": "query,value,ffn_out"}, {"recompute": True}),  # the adapters' dropout replayed
], ids=["hf-head", "lstm-head-on-cached-features", "masked-lm-under-xla", "adafactor", "recompute-from-resume-on",
        "lora-recompute-from-resume-on"])
def test_interrupted_and_resumed_run_ends_with_identical_weights(options, on_resume):
    result = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(options), json.dumps(on_resume)], cwd=ROOT,
                            capture_output=True,
                            text=True, timeout=900, env={**os.environ, "TFFT_CACHE": tempfile.mkdtemp()})
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip().splitlines()[-1].startswith("ok")
