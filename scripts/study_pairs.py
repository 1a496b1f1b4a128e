"""Study 3, the sentence-pair architecture study: the encoder with one of tfft's heads (--head, default attention
pooling), trained with three freeze settings (--freeze=all, the head alone on cached features; bottom:N; none);
then, for the setting with the best validation metric, learning rates 1e-3 / 1e-2 / 1e-1 with AdamW and SGD.
The report: a data analysis with plots, the architecture, each setting's test accuracy, precision, recall and F1
with its loss curves and most confident mistakes, the lr x optimizer table (diverged runs flagged), a table of all
runs, and every test number reproduced from the saved models (tfft/studies/pair_study.py).

    python scripts/study_pairs.py                        # MRPC from ../shared/data (flags/mrpc.cfg)
    python scripts/study_pairs.py --head=lstm --bidirectional --frozen_blocks=4
    python scripts/study_pairs.py --flagfile=my_pairs.cfg --head=attention   # any TSV/CSV with two texts, a label
    python scripts/study_pairs.py --smoke                # the embedded pair sample, a few steps per run
"""

from absl import flags

import studylib  # first: it puts the checkout on sys.path
from tfft import cli
from tfft.models import CLASSIFICATION_HEADS
from tfft.studies import pair_study

flags.DEFINE_integer("frozen_blocks", 3, "N of the middle setting, --freeze=bottom:N (the embeddings and the first N "
                     "transformer blocks frozen; all-MiniLM-L6-v2 has 6).")
flags.DEFINE_string("optimizer_grid", "lr=1e-3,1e-2,1e-1;optimizer=adamw,sgd", "Stage 2's grid, over the chosen "
                    "freeze setting.")
flags.DEFINE_float("reproduction_tolerance", pair_study.TOLERANCE, "Largest |difference| allowed between a test "
                   "metric at training time and the same metric of the saved model reloaded from disk.")
FLAGS = flags.FLAGS


def study(output_dir):
    if FLAGS.task != "pair" or FLAGS.head not in CLASSIFICATION_HEADS:
        cli.fail(f"--task={FLAGS.task} --head={FLAGS.head}: the study trains sentence pairs (--task=pair) with one of "
                 f"tfft's heads: --head={' / '.join(CLASSIFICATION_HEADS)}")
    base = studylib.base_run()
    pair_study.analyse_data(base, output_dir / "data")
    settings = ",".join(pair_study.freeze_settings(FLAGS.frozen_blocks))
    first = studylib.sweep(output_dir / "freeze", base, f"freeze={settings}", test_every_run=True)
    if first["pick"] is None:
        cli.fail(f"every freeze setting diverged or failed ({output_dir / 'freeze' / 'sweep.csv'}): lower --lr")
    chosen = first["pick"]["params"]["freeze"]
    studylib.sweep(output_dir / "optimizer", studylib.base_run(freeze=chosen), FLAGS.optimizer_grid,
                   test_every_run=True)
    reproduction = pair_study.reproduce(output_dir, tolerance=FLAGS.reproduction_tolerance)
    pair_study.write_report(output_dir)
    pair_study.check_reproduction(reproduction)  # after the report, which shows what differs


if __name__ == "__main__":
    # --feature_dtype=fp32: the cached features are then exactly what the reloaded model computes (fp16 rounds them).
    # The smoke grid's lr=1e3 blows up within its 4 updates whatever is frozen: the tests see a diverged run flagged.
    studylib.launch(study, preset=["--flagfile=flags/mrpc.cfg", "--head=attention", "--lr=1e-4", "--epochs=3",
                                   "--feature_dtype=fp32"],
                    smoke=["--flagfile=flags/quickstart_pair.cfg", "--max_steps=4", "--max_seq_length=64",
                           "--log_every=1", "--eval_every=2", "--feature_dtype=fp32",
                           "--optimizer_grid=lr=1e-3,1e3;optimizer=adamw,sgd"])
