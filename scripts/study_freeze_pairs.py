"""Study 3: how much of the encoder to fine-tune on sentence pairs. First freeze all vs bottom:N vs none; then,
for the chosen setting, learning rates 1e-3 / 1e-2 / 1e-1 with AdamW vs SGD. The report compares accuracy,
F1, precision and recall of every run and tests each stage's pick once.

    python scripts/study_freeze_pairs.py                 # MRPC from ../shared/data (flags/mrpc.cfg)
    python scripts/study_freeze_pairs.py --smoke         # the embedded pair sample, a few steps
"""

from absl import flags

import studylib  # first: it puts the checkout on sys.path
from tfft.studies.report import write_comparison

flags.DEFINE_string("freezes", "all,bottom:3,none", "Freeze settings of the first stage.")
flags.DEFINE_string("stage2_grid", "lr=1e-3,1e-2,1e-1;optimizer=adamw,sgd", "The second stage's grid.")
FLAGS = flags.FLAGS


def study(output_dir):
    stages = {"stage 1: what to freeze": output_dir / "freeze"}
    first = studylib.sweep(stages["stage 1: what to freeze"], studylib.base_run(), f"freeze={FLAGS.freezes}")
    chosen = first["pick"]["params"]["freeze"]
    stages[f"stage 2: lr and optimizer with --freeze={chosen}"] = output_dir / "optimizer"
    studylib.sweep(output_dir / "optimizer", studylib.base_run(freeze=chosen), FLAGS.stage2_grid)
    write_comparison(output_dir, "Freezing and optimizers for sentence pairs", stages,
                     note=f"Stage 1 picked --freeze={chosen} on validation; stage 2 varies {FLAGS.stage2_grid}.")


if __name__ == "__main__":
    studylib.launch(study, preset=["--flagfile=flags/mrpc.cfg", "--epochs=1"],
                    smoke=["--flagfile=flags/quickstart_pair.cfg", "--max_steps=4",
                           "--stage2_grid=lr=1e-3,1e-1;optimizer=adamw,sgd"])
