"""`python -m tfft.train`: fine-tune an encoder for a task. Flags in, `train_and_evaluate(run, output_dir)` out.

    python -m tfft.train --flagfile=flags/quickstart_ner.cfg --lr=3e-5
"""

import datetime
import pathlib

from absl import flags, logging

from tfft import cli, console
from tfft.cluster import is_chief
from tfft.config import HEADS, RunConfig, TrainConfig
from tfft.models.layers import ACTIVATIONS
from tfft.runs import check_run, discard_unstarted, read_json, start_run
from tfft.training.loop import make_strategy, train_and_evaluate

cli.define_data_flags()
flags.DEFINE_string("output_dir", None, "Run directory (default: a fresh runs/<task>-<timestamp>).")
flags.DEFINE_float("lr", 5e-5, "Peak learning rate.")
flags.DEFINE_integer("eval_batch_size", 64, "Examples per evaluation batch.")
flags.DEFINE_float("epochs", 3.0, "Training epochs (fractions allowed).")
flags.DEFINE_integer("max_steps", None, "Optimizer updates in all; overrides --epochs.")
flags.DEFINE_float("warmup_ratio", 0.1, "Fraction of the updates spent warming the learning rate up from 0.")
flags.DEFINE_integer("warmup_steps", None, "Warm-up updates (instead of --warmup_ratio).")
flags.DEFINE_enum("schedule", "linear", ["linear", "cosine", "constant"], "Learning rate after warm-up.")
flags.DEFINE_enum("optimizer", "adamw", ["adamw", "sgd", "adafactor"], "AdamW (decoupled decay, as "
                  "torch.optim.AdamW), SGD, or Adafactor (factored second moments: no per-parameter slot for "
                  "matrices; as transformers' Adafactor, at --lr unless --adafactor_relative_step).")
flags.DEFINE_float("weight_decay", 0.01, "Decoupled weight decay (AdamW) or L2 (SGD); never on biases/LayerNorm.")
flags.DEFINE_float("momentum", 0.9, "SGD momentum.")
flags.DEFINE_boolean("nesterov", False, "SGD with Nesterov momentum.")
flags.DEFINE_boolean("adafactor_relative_step", False, "Adafactor's own step size min(1e-2, 1/sqrt(t)) instead of "
                     "--lr and --schedule.")
flags.DEFINE_boolean("adafactor_scale_parameter", False, "Adafactor: scale the step by each tensor's RMS.")
flags.DEFINE_boolean("adafactor_warmup_init", False, "Adafactor: warm the relative step up as 1e-6 t.")
flags.DEFINE_float("adafactor_clip_threshold", 1.0, "Adafactor: clip each update's RMS to this.")
flags.DEFINE_float("adafactor_decay_rate", -0.8, "Adafactor: beta2 at update t is 1 - t^rate.")
flags.DEFINE_float("adafactor_beta1", 0.0, "Adafactor: first-moment decay (0: none, the memory-light default).")
flags.DEFINE_float("clip_norm", 1.0, "Global gradient-norm clipping (0: off).")
flags.DEFINE_integer("grad_accum_steps", 1, "Micro-batches per update: the update of one batch this many times "
                     "larger.")
flags.DEFINE_string("freeze", "none", "none | embeddings | all (train the head only) | bottom:N.")
flags.DEFINE_float("layer_lr_decay", 1.0, "Layer-wise learning-rate decay: block n-k learns at lr * decay**k, "
                   "the embeddings at lr * decay**(n+1), the head at lr (1: off).")
flags.DEFINE_enum("head", "hf", list(HEADS), "The head over the encoder: hf (Hugging Face's layout; fine-tuned Hub "
                  "heads load); for classification and pairs mlp, attention (masked attention pooling with a learned "
                  "query), mha (a self-attention block, then pooling), rnn, gru, lstm; for NER crf, lstm_crf.")
flags.DEFINE_integer("head_hidden", 0, "MLP width, recurrent units, or the mha feed-forward width (0: the encoder's "
                     "hidden size; mha: 4x).")
flags.DEFINE_integer("head_layers", 1, "MLP hidden layers.")
flags.DEFINE_enum("head_activation", "gelu", sorted(ACTIVATIONS), "MLP activation.")
flags.DEFINE_float("head_dropout", 0.1, "Dropout in tfft's heads.")
flags.DEFINE_string("head_pooling", "", "How a head pools the token states: mlp cls|mean|max (default cls), mha "
                    "mean|max|cls (default mean), rnn/gru/lstm last|mean|max (default last).")
flags.DEFINE_boolean("bidirectional", False, "Recurrent heads (rnn, gru, lstm, lstm_crf) read both directions.")
flags.DEFINE_boolean("crf_constraints", True, "CRF heads never decode I-X after anything but B-X / I-X.")
flags.DEFINE_string("feature_cache", "auto", "With --freeze=all: the frozen encoder's outputs are computed once per "
                    "split and the head trains on them. auto: cached under $TFFT_CACHE/encoder (default "
                    "~/.cache/tfft/encoder), keyed by model, data, max length and tokenizer; off: run the encoder "
                    "every step; or a directory for this model and data.")
flags.DEFINE_enum("feature_dtype", "fp16", ["fp16", "fp32"], "How cached encoder features are stored.")
flags.DEFINE_enum("precision", "fp32", ["fp32", "bf16", "fp16"], "Matmul precision; variables stay float32; fp16 "
                  "uses dynamic loss scaling.")
flags.DEFINE_boolean("xla", False, "Compile the train and predict steps with XLA (jit_compile).")
flags.DEFINE_boolean("recompute", False, "Gradient checkpointing: each transformer block runs again in the backward "
                     "pass instead of keeping its activations (the same gradients, less memory, more compute).")
flags.DEFINE_enum("class_weights", "none", ["none", "balanced"], "Weight the loss by inverse class frequency.")
flags.DEFINE_float("label_smoothing", 0.0, "Label smoothing of the cross-entropy.")
flags.DEFINE_integer("eval_every", None, "Evaluate every N updates (always at each epoch end).")
flags.DEFINE_integer("checkpoint_every", 500, "Checkpoint every N updates (and at the end).")
flags.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept.")
flags.DEFINE_integer("early_stopping_patience", None, "Stop after N evaluations without improvement.")
flags.DEFINE_float("min_delta", 0.0, "Improvement of --metric_for_best that counts.")
flags.DEFINE_string("metric_for_best", "", "Validation metric that picks best/ (default: accuracy; NER: f1).")
flags.DEFINE_boolean("deterministic", False, "TensorFlow op determinism (slower; exact resume).")
flags.DEFINE_enum("distribute", "default", ["default", "mirrored", "multi_worker", "tpu"], "tf.distribute strategy.")
flags.DEFINE_integer("log_every", 20, "Log training numbers every N updates.")
flags.DEFINE_boolean("resume", False, "Continue the run in --output_dir from its latest checkpoint.")
flags.DEFINE_boolean("overwrite", False, "Replace a previous run in --output_dir.")
flags.DEFINE_boolean("export", False, "At the end, export the best model to OUTPUT_DIR/export as a SavedModel that "
                     "serves raw text (as python -m tfft.export).")
flags.DEFINE_enum("init", "pretrained", ["pretrained", "random"], "Start from the checkpoint's weights, or from "
                  "random weights of the same architecture (the 'untrained' baseline).")
flags.DEFINE_enum("select", "best", ["best", "last"], "What best/ keeps: the weights of the best validation "
                  "evaluation, or the final weights (a refit on train + validation has no held-out data to pick by).")
flags.DEFINE_enum("nan_policy", "stop", ["stop", "skip"], "A non-finite loss or gradient is never applied. stop: "
                  "end the run there (exit code 3), naming the step and the checkpoint to resume from; skip: skip the "
                  "update, count it (skipped_steps) and go on (giving up after 50 in a row). fp16 skips overflows by "
                  "loss scaling either way, and stops only at loss scale 1.")
flags.DEFINE_integer("lora_rank", None, "LoRA: freeze every encoder weight and train rank-r adapters on "
                     "--lora_targets and the task head (unset: full fine-tuning). best/ holds PEFT's adapter files.")
flags.DEFINE_float("lora_alpha", 16.0, "LoRA: the adapters' update is scaled by alpha / rank.")
flags.DEFINE_float("lora_dropout", 0.1, "LoRA: dropout on the adapters' input.")
flags.DEFINE_string("lora_targets", "query,value", "LoRA: the projections adapted in every block, comma-separated: "
                    "query, key, value, attention_output, ffn_in, ffn_out (DistilBERT q_lin, k_lin, v_lin, out_lin, "
                    "lin1, lin2; BERT attention.self.query/key/value, attention.output.dense, intermediate.dense, "
                    "output.dense).")
flags.DEFINE_string("lora_adapter", "", "LoRA: start from these adapters (a PEFT adapter directory, e.g. made with "
                    "PyTorch's peft, or a LoRA run's best/) on --model: evaluated at step 0, then trained further.")
flags.DEFINE_boolean("merge_lora", False, "LoRA: at the end, also write OUTPUT_DIR/merged, the best adapters folded "
                     "into the base weights: a plain Hugging Face checkpoint (no PEFT needed to load it).")
flags.DEFINE_float("mlm_probability", 0.15, "--task=mlm: share of the tokens of each sequence chosen for "
                   "prediction (of them 80% become [MASK], 10% a random token, 10% stay), drawn anew each epoch.")
flags.DEFINE_boolean("whole_word_masking", False, "--task=mlm: choose whole words, every piece of a word or none.")
flags.DEFINE_boolean("evaluate_test", True, "Evaluate best/ on the test split at the end (a sweep leaves the test "
                     "split alone until it has picked its configuration).")
FLAGS = flags.FLAGS


def train_config(values) -> TrainConfig:
    return TrainConfig(
        task=values.task, model=values.model, output_dir=values.output_dir or "", lr=values.lr,
        batch_size=values.batch_size, eval_batch_size=values.eval_batch_size, epochs=values.epochs,
        max_steps=values.max_steps, max_seq_length=values.max_seq_length, padding=values.padding,
        buckets=values.buckets, warmup_ratio=None if values.warmup_steps is not None else values.warmup_ratio,
        warmup_steps=values.warmup_steps, schedule=values.schedule, optimizer=values.optimizer,
        weight_decay=values.weight_decay, momentum=values.momentum, nesterov=values.nesterov,
        clip_norm=values.clip_norm or None, grad_accum_steps=values.grad_accum_steps, freeze=values.freeze,
        head=values.head, head_hidden=values.head_hidden, head_layers=values.head_layers,
        head_activation=values.head_activation, head_dropout=values.head_dropout, head_pooling=values.head_pooling,
        bidirectional=values.bidirectional, crf_constraints=values.crf_constraints,
        feature_cache=values.feature_cache, feature_dtype=values.feature_dtype, layer_lr_decay=values.layer_lr_decay,
        precision=values.precision, xla=values.xla, class_weights=values.class_weights,
        label_smoothing=values.label_smoothing, label_all_subtokens=values.label_all_subtokens,
        eval_every=values.eval_every, checkpoint_every=values.checkpoint_every,
        keep_checkpoints=values.keep_checkpoints, early_stopping_patience=values.early_stopping_patience,
        min_delta=values.min_delta, metric_for_best=values.metric_for_best, seed=values.seed,
        deterministic=values.deterministic, distribute=values.distribute, log_every=values.log_every,
        cache_dir=values.cache_dir, export=values.export, init=values.init, select=values.select,
        evaluate_test=values.evaluate_test, nan_policy=values.nan_policy,
        mlm_probability=values.mlm_probability, whole_word_masking=values.whole_word_masking,
        adafactor_relative_step=values.adafactor_relative_step,
        adafactor_scale_parameter=values.adafactor_scale_parameter,
        adafactor_warmup_init=values.adafactor_warmup_init, adafactor_clip_threshold=values.adafactor_clip_threshold,
        adafactor_decay_rate=values.adafactor_decay_rate, adafactor_beta1=values.adafactor_beta1,
        recompute=values.recompute, lora_rank=values.lora_rank, lora_alpha=values.lora_alpha,
        lora_dropout=values.lora_dropout, lora_targets=values.lora_targets, lora_adapter=values.lora_adapter,
        merge_lora=values.merge_lora)


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected argument {argv[1]!r}: flags are --name=value (in a flagfile too, one per line)")
    logging.set_verbosity(logging.INFO)
    run = RunConfig(train_config(FLAGS), cli.data_config(FLAGS))
    check_run(run.train)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    output_dir = pathlib.Path(FLAGS.output_dir or f"runs/{FLAGS.task}-{stamp}")
    chief = is_chief()  # the other workers of a multi-worker run write nothing there
    if chief:
        start_run(run, output_dir, resume=FLAGS.resume, overwrite=FLAGS.overwrite)
    # The strategy first: under multi_worker, TensorFlow's coordination service takes SIGTERM for itself when it
    # starts, and the handlers installed after it must be tfft's.
    strategy = make_strategy(run.train.distribute)
    try:
        with cli.stop_on_signals() as stop:
            result = train_and_evaluate(run, output_dir, resume=FLAGS.resume, interrupt=stop, strategy=strategy)
    except (*cli.USER_ERRORS, cli.Interrupted):  # bad data, a full disk, Ctrl-C while preparing: start afresh later
        if chief and not FLAGS.resume:
            discard_unstarted(output_dir)
        raise
    if "interrupted_at" in result:
        cli.exit_interrupted(stop, f"interrupted at step {result['interrupted_at']}; continue with: python -m "
                                   f"tfft.train --flagfile={output_dir / 'flags.txt'} --output_dir={output_dir} "
                                   "--resume")
    if result:
        test_source = read_json(output_dir / "data_summary.json")["sources"]["test"]  # this run wrote it
        print(console.metrics_table(result, f"test metrics (test split: {test_source})"))
    print(f"run directory: {output_dir}  (best model: {output_dir / 'best'})")
    if FLAGS.merge_lora:
        print(f"merged model: {output_dir / 'merged'}")
    if FLAGS.export:
        print(f"SavedModel: {output_dir / 'export'}")


if __name__ == "__main__":
    cli.run(main)
