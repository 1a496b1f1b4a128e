"""Generate tiny Hugging Face ``tf_model.h5`` reference fixtures for tfft.

What it makes
-------------
Under ``tests/fixtures/hf_tf_h5/`` one directory per case, each holding exactly

* ``config.json``  -- written by ``save_pretrained``
* ``tf_model.h5``  -- written by ``save_pretrained(..., safe_serialization=False)``
  (the legacy Keras-2 HDF5 weights format of transformers' TF models)
* ``expected.npz`` -- ``input_ids`` [3, 11] int32, ``attention_mask`` [3, 11]
  int32 (row lengths 11, 7, 4; trailing padding, padded ids are 0),
  ``token_type_ids`` [3, 11] int32 (BERT cases only: row 0 is 0 for the
  first 5 positions and 1 for the other 6, rows 1-2 all 0) and ``logits``
  float32, the TF model's output with ``training=False``.

Cases:

* ``distilbert_seqcls`` -- ``TFDistilBertForSequenceClassification``
  (vocab 99, dim 32, 2 layers, 4 heads, hidden_dim 37, 64 positions,
  3 labels "neg"/"neu"/"pos"); logits [3, 3].
* ``bert_tokcls`` -- ``TFBertForTokenClassification`` (vocab 99, hidden 32,
  2 layers, 4 heads, intermediate 37, 64 positions, 2 token types,
  5 labels); logits [3, 11, 5].
* ``bert_mlm`` -- ``TFBertForMaskedLM`` with the same BertConfig;
  logits [3, 11, 99].

Every variable (kernels, biases, embeddings, LayerNorm gamma/beta, the
MLM output bias, ...) is overwritten from a seeded numpy generator:
N(0, 0.2), except LayerNorm gamma which is 1 + N(0, 0.2), so a loader that
skips, swaps or mis-transposes any tensor produces different logits.  (The
one exception is inherent to attention: a constant key bias cancels in the
softmax, so the attention key biases cannot affect any output.)

Why
---
tfft reads transformers' legacy TF checkpoints itself.  These fixtures are
produced by the real transformers 4.57 TF (tf-keras) models, independent of
tfft, so tfft's tests can load ``tf_model.h5`` + ``config.json`` and compare
their logits with ``expected.npz`` (over non-padded positions).

The script also cross-checks every fixture against PyTorch, two ways:

1. transformers' own ``<PtClass>.from_pretrained(dir, from_tf=True)``.  In
   4.57 this is broken (the model is built on the meta device and the
   converter's ``load_state_dict(strict=False)`` is a no-op on meta
   parameters), so the failure is reported and the same converter,
   ``load_tf2_checkpoint_in_pytorch_model``, is applied to a normally
   initialised PyTorch model instead;
2. a hand-written mapping that reads ``tf_model.h5`` with h5py only and
   builds the PyTorch state dict (documents the h5 -> PyTorch name mapping).

and prints the h5 structure (dataset paths/shapes, attrs).

How to run (outside the repo's own environment; needs only PyPI)
-----------------------------------------------------------------
    python3 -m venv /tmp/peer-tf-venv && /tmp/peer-tf-venv/bin/pip install \
        tensorflow-cpu==2.21.0 tf-keras==2.21.0 "transformers==4.57.*" \
        torch==2.13.0 safetensors h5py numpy
    TF_USE_LEGACY_KERAS=1 /tmp/peer-tf-venv/bin/python scripts/make_h5_fixtures.py

(torch==2.13.0 must stay pinned: an unpinned torch pulls the CUDA build.)
Options: ``--out DIR`` (default tests/fixtures/hf_tf_h5 next to this
script's repo), ``--no-check`` (skip the PyTorch cross-check),
``--no-dump`` (skip the h5 listing).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import h5py  # noqa: E402
import numpy as np  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "tests", "fixtures", "hf_tf_h5")

BATCH, SEQ = 3, 11
LENGTHS = (11, 7, 4)
KEEP = {"config.json", "tf_model.h5", "expected.npz"}


def distilbert_config():
    from transformers import DistilBertConfig

    labels = ["neg", "neu", "pos"]
    return DistilBertConfig(
        vocab_size=99,
        dim=32,
        n_layers=2,
        n_heads=4,
        hidden_dim=37,
        max_position_embeddings=64,
        num_labels=3,
        id2label={i: name for i, name in enumerate(labels)},
        label2id={name: i for i, name in enumerate(labels)},
    )


def bert_config(num_labels=2):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        type_vocab_size=2,
        num_labels=num_labels,
    )


# name -> (TF class, PyTorch class, config factory, uses token_type_ids, seed)
CASES = {
    "distilbert_seqcls": (
        "TFDistilBertForSequenceClassification",
        "DistilBertForSequenceClassification",
        distilbert_config,
        False,
        1001,
    ),
    "bert_tokcls": (
        "TFBertForTokenClassification",
        "BertForTokenClassification",
        lambda: bert_config(num_labels=5),
        True,
        1002,
    ),
    "bert_mlm": (
        "TFBertForMaskedLM",
        "BertForMaskedLM",
        bert_config,
        True,
        1003,
    ),
}


def make_inputs(rng, vocab_size, with_token_types):
    mask = np.zeros((BATCH, SEQ), dtype=np.int32)
    for row, length in enumerate(LENGTHS):
        mask[row, :length] = 1
    ids = rng.integers(3, vocab_size, size=(BATCH, SEQ)).astype(np.int32)
    ids[:, 0] = 2  # pseudo-[CLS]
    ids[mask == 0] = 0  # pad_token_id
    out = {"input_ids": ids, "attention_mask": mask}
    if with_token_types:
        tt = np.zeros((BATCH, SEQ), dtype=np.int32)
        tt[0, SEQ // 2 :] = 1  # row 0: 5 zeros then 6 ones
        out["token_type_ids"] = tt
    return out


def randomize_all(model, rng, std=0.2):
    """Overwrite every variable with random values.

    Kernels, biases, embeddings and LayerNorm beta get N(0, std); LayerNorm
    gamma gets 1 + N(0, std).  (With gamma ~ N(0, 0.2) the LayerNorm outputs
    are so small that attention is almost uniform and the query/key weights
    move the logits by only ~1e-4; centring gamma on 1 keeps every tensor,
    including gamma itself, clearly visible in the logits.)
    """
    for w in model.weights:
        vals = rng.normal(0.0, std, size=tuple(w.shape))
        if w.name.split("/")[-1].startswith("gamma"):
            vals = vals + 1.0
        w.assign(vals.astype(w.dtype.as_numpy_dtype))


def build_case(name, out_dir):
    import tensorflow as tf
    import transformers

    tf_cls_name, _, cfg_fn, with_tt, seed = CASES[name]
    # Reset Keras' layer-name counters so auto-named layers (the classifier
    # heads' "dropout_N", which appears in the h5 layer_names attr) do not
    # depend on which cases/checks ran before: output is byte-reproducible.
    tf.keras.backend.clear_session()
    tf.random.set_seed(seed)
    rng = np.random.default_rng(seed)
    config = cfg_fn()
    model = getattr(transformers, tf_cls_name)(config)
    inputs = make_inputs(rng, config.vocab_size, with_tt)
    tf_inputs = {k: tf.constant(v) for k, v in inputs.items()}
    model(tf_inputs, training=False)  # build
    randomize_all(model, rng)
    logits = model(tf_inputs, training=False).logits.numpy().astype(np.float32)

    case_dir = os.path.join(out_dir, name)
    if os.path.isdir(case_dir):
        shutil.rmtree(case_dir)
    os.makedirs(case_dir)
    model.save_pretrained(case_dir, safe_serialization=False)
    for fname in os.listdir(case_dir):
        if fname not in KEEP:
            path = os.path.join(case_dir, fname)
            print(f"  removing extra file {fname}")
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    assert os.path.isfile(os.path.join(case_dir, "tf_model.h5")), "no tf_model.h5 written"
    assert os.path.isfile(os.path.join(case_dir, "config.json")), "no config.json written"
    np.savez(os.path.join(case_dir, "expected.npz"), logits=logits, **inputs)

    # Round trip through transformers' own TF loader as a sanity check.
    reloaded = getattr(transformers, tf_cls_name).from_pretrained(case_dir)
    again = reloaded(tf_inputs, training=False).logits.numpy()
    print(f"  TF reload max|diff| = {np.abs(again - logits).max():.3g}")
    n_vars = len(model.weights)
    n_params = int(sum(np.prod(w.shape) for w in model.weights))
    print(f"  {n_vars} TF variables, {n_params} parameters, logits {logits.shape}")
    return case_dir


# ---------------------------------------------------------------------------
# h5 inspection
# ---------------------------------------------------------------------------
def _attr(v):
    if isinstance(v, np.ndarray):
        return [x.decode() if isinstance(x, bytes) else x for x in v.tolist()]
    return v.decode() if isinstance(v, bytes) else v


def h5_datasets(path):
    out = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.append((n, o.shape, str(o.dtype))) if isinstance(o, h5py.Dataset) else None)
    return out


def dump_h5(path):
    print(f"== {path} ({os.path.getsize(path)} bytes)")
    with h5py.File(path, "r") as f:
        for k, v in f.attrs.items():
            print(f"  attr /{k} = {_attr(v)}")

        def visit(n, o):
            if isinstance(o, h5py.Group):
                for k, v in o.attrs.items():
                    val = _attr(v)
                    print(f"  attr /{n}:{k} ({len(val) if isinstance(val, list) else 1}) = {val}")
            else:
                print(f"  /{n}  {o.shape} {o.dtype}")

        f.visititems(visit)


# ---------------------------------------------------------------------------
# PyTorch cross-checks
# ---------------------------------------------------------------------------
def h5_to_torch_state_dict(path):
    """Independent h5 -> PyTorch mapping using h5py only.

    Dataset path = /<top layer>/<model scope>/<weight path>:0 .  Rules:
    drop the top-level group and the model-scope component, '_._' -> '.',
    '/' -> '.', strip ':0', last component kernel -> weight (transposed),
    embeddings / gamma -> weight, beta -> bias.  The MLM output bias
    (``mlm___cls/predictions/bias``) maps through the '$1___$2' -> '$2'
    rule to ``cls.predictions.bias``.
    """
    sd = {}
    dups = []
    with h5py.File(path, "r") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for n in names:
            arr = np.asarray(f[n])
            parts = n.split("/")[2:]  # drop top-level group + model scope
            parts[-1] = parts[-1].replace(":0", "")
            parts = [re.sub(r"^[^/]*___", "", p) for p in parts]
            last = parts[-1]
            if last == "kernel":
                parts[-1] = "weight"
                arr = arr.T
            elif last in ("embeddings", "gamma"):
                parts[-1] = "weight"
            elif last == "beta":
                parts[-1] = "bias"
            key = ".".join(parts).replace("_._", ".")
            if key in sd:
                # TFBertForMaskedLM: the mlm___cls group repeats the whole
                # bert/embeddings sub-layer (the head holds a reference to it
                # for the tied decoder); the copies must be identical.
                assert np.array_equal(sd[key], arr), f"differing duplicate {n}"
                dups.append(n)
                continue
            sd[key] = arr
    if dups:
        print(f"  manual h5 mapping: {len(dups)} duplicate datasets (identical values): {dups}")
    return sd


def masked_maxdiff(a, b, mask):
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim == 2:  # sequence classification: one row per example
        return float(np.abs(a - b).max())
    m = mask.astype(bool)
    return float(np.abs(a[m] - b[m]).max())


def torch_check(name, case_dir):
    import torch
    import transformers

    _, pt_cls_name, _, _, _ = CASES[name]
    pt_cls = getattr(transformers, pt_cls_name)
    exp = dict(np.load(os.path.join(case_dir, "expected.npz")))
    mask = exp["attention_mask"]
    inputs = {k: torch.from_numpy(exp[k].astype(np.int64)) for k in ("input_ids", "attention_mask", "token_type_ids") if k in exp}
    results = {}

    # 1a. transformers' from_tf=True path.  In 4.57 from_pretrained builds the
    # model on the meta device and the TF->PT converter then calls
    # load_state_dict(strict=False) without assign=True, which is a no-op for
    # meta parameters: the weights are never loaded (torch warns "copying from
    # a non-meta parameter ... is a no-op") and inference fails.  Report it.
    try:
        model, info = pt_cls.from_pretrained(case_dir, from_tf=True, output_loading_info=True)
        meta = sorted(n for n, p in model.named_parameters() if p.is_meta)
        if meta:
            raise RuntimeError(f"{len(meta)} parameters left on the meta device, e.g. {meta[:3]}")
        model.eval()
        with torch.no_grad():
            out = model(**inputs).logits.numpy()
        d = masked_maxdiff(out, exp["logits"], mask)
        print(f"  from_pretrained(from_tf=True): loading info {info}; max|diff| over non-padded = {d:.3g}")
        results["from_pretrained_from_tf"] = d
    except Exception as e:
        print(f"  from_pretrained(from_tf=True) FAILED: {type(e).__name__}: {str(e)[:300]}")
        results["from_pretrained_from_tf"] = None

    # 1b. The same converter from_tf uses (load_tf2_checkpoint_in_pytorch_model:
    # builds the TF model, loads the h5 with transformers' TF loader, copies the
    # variables into the PyTorch model) applied to a normally-initialised model.
    from transformers.modeling_tf_pytorch_utils import load_tf2_checkpoint_in_pytorch_model

    config = transformers.AutoConfig.from_pretrained(case_dir)
    for attn in ("eager", "sdpa"):
        config._attn_implementation = attn
        model = pt_cls(config)
        model, info = load_tf2_checkpoint_in_pytorch_model(
            model, os.path.join(case_dir, "tf_model.h5"), output_loading_info=True
        )
        model.eval()
        with torch.no_grad():
            out = model(**inputs).logits.numpy()
        d = masked_maxdiff(out, exp["logits"], mask)
        print(f"  load_tf2_checkpoint_in_pytorch_model ({attn}): loading info {info}; max|diff| over non-padded = {d:.3g}")
        results[f"tf2_converter_{attn}"] = d

    # 2. Independent mapping: h5py -> state dict -> load_state_dict(strict).
    sd = h5_to_torch_state_dict(os.path.join(case_dir, "tf_model.h5"))
    config = transformers.AutoConfig.from_pretrained(case_dir)
    config._attn_implementation = "eager"
    model = pt_cls(config).eval()
    pt_keys = set(model.state_dict().keys())
    tied = []
    if name == "bert_mlm":
        # PyTorch decoder weight is tied to the word embeddings and the decoder
        # bias to cls.predictions.bias; neither is stored separately in the h5.
        tied = ["cls.predictions.decoder.weight", "cls.predictions.decoder.bias"]
    missing = sorted(pt_keys - set(sd) - set(tied))
    unexpected = sorted(set(sd) - pt_keys)
    print(f"  manual h5 mapping: {len(sd)} tensors, missing={missing}, unexpected={unexpected}, tied={tied}")
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}
    res = model.load_state_dict(state, strict=False)
    assert not res.unexpected_keys, res.unexpected_keys
    assert set(res.missing_keys) <= set(tied), res.missing_keys
    if tied:
        model.tie_weights()
        assert model.cls.predictions.decoder.weight.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr()
    with torch.no_grad():
        out = model(**inputs).logits.numpy()
    d = masked_maxdiff(out, exp["logits"], mask)
    print(f"  manual h5 mapping: max|diff| over non-padded = {d:.3g}")
    results["manual"] = d
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--no-dump", action="store_true")
    ap.add_argument("cases", nargs="*", default=list(CASES))
    args = ap.parse_args(argv)

    import tensorflow as tf
    import transformers

    print(f"tensorflow {tf.__version__}, transformers {transformers.__version__}, "
          f"TF_USE_LEGACY_KERAS={os.environ.get('TF_USE_LEGACY_KERAS')}")
    os.makedirs(args.out, exist_ok=True)
    summary = {}
    for name in args.cases:
        print(f"# {name}")
        case_dir = build_case(name, args.out)
        if not args.no_dump:
            dump_h5(os.path.join(case_dir, "tf_model.h5"))
        if not args.no_check:
            summary[name] = torch_check(name, case_dir)
    print("# sizes")
    for name in args.cases:
        case_dir = os.path.join(args.out, name)
        files = {f: os.path.getsize(os.path.join(case_dir, f)) for f in sorted(os.listdir(case_dir))}
        total = sum(files.values())
        print(f"  {name}: {files} total={total}")
        assert total < 200 * 1024, f"{name} fixture too large ({total} bytes)"
    if summary:
        print("# PyTorch cross-check (max |diff| over non-padded positions)")
        for name, r in summary.items():
            print(f"  {name}: {r}")
        bad = [n for n, r in summary.items() if r.get("manual") is None or r["manual"] > 1e-4]
        if bad:
            print(f"cross-check FAILED for {bad}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
