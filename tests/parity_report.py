"""Measures what the parity tests bound: max |tfft - transformers (PyTorch)| per output, and the load time of a
66M-parameter DistilBERT checkpoint. Prints one JSON line. Needs the test requirements (torch).

    .venv/bin/python tests/parity_report.py

It lives beside the tests because it measures with their helpers (conftest.py: the PyTorch reference, padded
batches, the masked difference); pytest does not collect it.

DistilBERT at distilbert-base-uncased dimensions with random weights (no weights offline); BERT layout on the
real packaged all-MiniLM-L6-v2. fp32, padded batch of lengths (16, 11, 5), padded positions excluded.
"""

import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tfft; tests/ is first already

import transformers  # noqa: E402

from conftest import max_abs_diff, padded_batch, randomize_torch, tfft_call, torch_outputs  # noqa: E402
from tfft.checkpoints.hub import resolve  # noqa: E402
from tfft.checkpoints.io import from_pretrained  # noqa: E402


def _compare(torch_model, path, batch, per_token: bool) -> dict:
    start = time.perf_counter()
    ours = from_pretrained(path)
    load_seconds = time.perf_counter() - start
    reference = torch_outputs(torch_model.eval(), batch)
    mask = batch["attention_mask"]
    got = tfft_call(ours, batch)
    result = {"load_seconds": round(load_seconds, 2),
              "parameters": sum(int(v.shape.num_elements()) for v in ours.trainable_variables)}
    if hasattr(got, "last_hidden_state"):
        result["last_hidden_state"] = max_abs_diff(got.last_hidden_state, reference.last_hidden_state.numpy(), mask)
        if got.pooled is not None:
            result["pooled"] = max_abs_diff(got.pooled, reference.pooler_output.numpy())
    else:
        result["logits"] = max_abs_diff(got, reference.logits.numpy(), mask if per_token else None)
    return result


def main() -> None:
    report = {}
    config = transformers.DistilBertConfig(num_labels=3)  # distilbert-base-uncased dimensions
    batch = padded_batch(30522)
    with tempfile.TemporaryDirectory() as tmp:
        for seed, name in enumerate(["DistilBertModel", "DistilBertForSequenceClassification",
                                     "DistilBertForTokenClassification", "DistilBertForMaskedLM"]):
            model = getattr(transformers, name)(config)
            randomize_torch(model, seed)
            model.save_pretrained(os.path.join(tmp, name))
            report[name] = _compare(model, os.path.join(tmp, name), batch, per_token="Sequence" not in name)
        minilm = resolve("all-MiniLM-L6-v2")
        segments = padded_batch(30522, segments=True)
        report["all-MiniLM-L6-v2 BertModel"] = _compare(transformers.BertModel.from_pretrained(minilm), minilm,
                                                        segments, per_token=True)
        for seed, name in enumerate(["BertForSequenceClassification", "BertForTokenClassification",
                                     "BertForMaskedLM"]):
            model = getattr(transformers, name).from_pretrained(minilm, **({} if "Masked" in name else {"num_labels": 3}))
            randomize_torch(model, seed)
            model.save_pretrained(os.path.join(tmp, name))
            report[f"all-MiniLM-L6-v2 {name}"] = _compare(model, os.path.join(tmp, name), segments,
                                                         per_token="Sequence" not in name)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
