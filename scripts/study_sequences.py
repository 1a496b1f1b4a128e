"""Study 6: sequence models. A hand-written vanilla RNN against a feed-forward network on sequences truncated to the
shortest length and one on padded, masked sequences: many-to-one regression (a sequence of vectors in R^10 -> one
number), trained with the MSE loss and tfft's optimizers, early stopping on validation, TensorBoard logs. The report
(Markdown + HTML): test MSE and parameter count per model, the convergence curves on one plot, the train /
validation gap, test MSE by sequence length and a generated table of which model wins where.

The data: a .npz or pickle file holding X (sequences [l_i, 10]) and y (one number each), see
tfft/studies/sequence_data.py for the layouts; without --data, the documented synthetic AR(1) process there
(5000 sequences of lengths 5 to 60). The same command resumes an interrupted study; finished models are kept.

    python scripts/study_sequences.py                          # the synthetic data, 5000 sequences
    python scripts/study_sequences.py --data=my_sequences.npz
    python scripts/study_sequences.py --data=legacy.pkl --allow_pickle    # only for a pickle you trust
    python scripts/study_sequences.py --smoke                  # 240 short sequences, 3 epochs (the tests use it)
"""

import logging
import pathlib
import shlex
import sys

from absl import flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # runs from a checkout

from tfft import cli  # noqa: E402
from tfft.studies.sequence_data import SyntheticConfig, load_sequences, save_npz, synthetic  # noqa: E402
from tfft.studies.sequence_models import DEFAULT_MODELS, MODELS  # noqa: E402
from tfft.studies.sequence_study import OPTIMIZERS, StudyConfig, run_study  # noqa: E402

defaults, synthetic_defaults = StudyConfig(), SyntheticConfig()
flags.DEFINE_string("data", "", "A .npz, .pkl or .pickle file with X and y; empty: the synthetic process.")
flags.DEFINE_boolean("allow_pickle", False, "Allow unpickling --data (a pickle, or a .npz with object arrays). "
                     "Unpickling runs any code the file names: only for files you trust.")
flags.DEFINE_string("save_data", "", "Also write the data the study used to this .npz (no pickle needed to load).")
flags.DEFINE_integer("examples", synthetic_defaults.examples, "Synthetic sequences.")
flags.DEFINE_integer("min_length", synthetic_defaults.min_length, "Shortest synthetic sequence.")
flags.DEFINE_integer("max_length", synthetic_defaults.max_length, "Longest synthetic sequence.")
flags.DEFINE_integer("features", synthetic_defaults.features, "Features per synthetic step.")
flags.DEFINE_float("noise", synthetic_defaults.noise, "Standard deviation of the synthetic target's noise.")
flags.DEFINE_list("models", list(DEFAULT_MODELS), f"Models to compare, of {', '.join(MODELS)}.")
flags.DEFINE_integer("rnn_units", defaults.rnn_units, "Units of the RNN's state.")
flags.DEFINE_list("ffn_hidden", [str(w) for w in defaults.ffn_hidden], "Hidden widths of the feed-forward networks.")
flags.DEFINE_enum("optimizer", defaults.optimizer, OPTIMIZERS, "tfft optimizer.")
flags.DEFINE_float("lr", defaults.lr, "Learning rate (constant).")
flags.DEFINE_float("weight_decay", defaults.weight_decay, "Decoupled weight decay of the kernels.")
flags.DEFINE_float("momentum", defaults.momentum, "SGD momentum.")
flags.DEFINE_integer("batch_size", defaults.batch_size, "Sequences per update.")
flags.DEFINE_integer("epochs", defaults.epochs, "Most epochs per model.")
flags.DEFINE_integer("early_stopping_patience", defaults.early_stopping_patience,
                     "Stop after this many epochs without a better validation MSE; 0: never.")
flags.DEFINE_float("clip_norm", defaults.clip_norm, "Clip the gradients' global norm to this; 0: no clipping.")
flags.DEFINE_float("validation_fraction", defaults.validation_fraction, "Share of the sequences for validation.")
flags.DEFINE_float("test_fraction", defaults.test_fraction, "Share of the sequences for the test.")
flags.DEFINE_list("length_buckets", [], "Lengths at which the by-length table starts a new row, e.g. 20,40; "
                  "empty: three ranges of equal width.")
flags.DEFINE_boolean("xla", False, "Compile the steps with XLA (jit_compile).")
flags.DEFINE_integer("seed", 0, "Seed of the synthetic data, the split, the initialisation and the batch order.")
flags.DEFINE_string("output_dir", "studies/study_sequences", "Where the study writes.")
flags.DEFINE_boolean("smoke", False, "A tiny, fast version of the study (the tests use it).")
FLAGS = flags.FLAGS
SMOKE = ["--examples=240", "--max_length=20", "--epochs=3", "--rnn_units=8", "--ffn_hidden=16",
         "--early_stopping_patience=2", "--batch_size=32"]


def integers(name: str) -> tuple[int, ...]:
    try:
        return tuple(int(value) for value in getattr(FLAGS, name))
    except ValueError:
        cli.fail(f"--{name}={','.join(getattr(FLAGS, name))}: expected comma-separated integers")


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}: study_sequences takes only flags")
    logging.getLogger().setLevel(logging.INFO)
    config = StudyConfig(models=tuple(FLAGS.models), rnn_units=FLAGS.rnn_units, ffn_hidden=integers("ffn_hidden"),
                         optimizer=FLAGS.optimizer, lr=FLAGS.lr, weight_decay=FLAGS.weight_decay,
                         momentum=FLAGS.momentum, batch_size=FLAGS.batch_size, epochs=FLAGS.epochs,
                         early_stopping_patience=FLAGS.early_stopping_patience or None, clip_norm=FLAGS.clip_norm,
                         validation_fraction=FLAGS.validation_fraction, test_fraction=FLAGS.test_fraction,
                         length_buckets=integers("length_buckets"), xla=FLAGS.xla, seed=FLAGS.seed)
    if FLAGS.data:
        data = load_sequences(FLAGS.data, allow_pickle=FLAGS.allow_pickle)
    else:
        data = synthetic(SyntheticConfig(examples=FLAGS.examples, min_length=FLAGS.min_length,
                                         max_length=FLAGS.max_length, features=FLAGS.features, noise=FLAGS.noise,
                                         seed=FLAGS.seed))
    if FLAGS.save_data:
        save_npz(FLAGS.save_data, data)
    output_dir = pathlib.Path(FLAGS.output_dir)
    command = shlex.join(["python", "scripts/study_sequences.py", *sys.argv[1:]])
    markdown, page = run_study(data, config, output_dir, command=command)
    print(f"study report: {markdown} and {page}")


if __name__ == "__main__":
    args = sys.argv[1:]
    smoke = SMOKE if any(a in ("--smoke", "--smoke=true") for a in args) else []
    cli.run(main, argv=[sys.argv[0], *smoke, *args])
