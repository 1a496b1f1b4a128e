"""Study 2: train only the head (--freeze=all) on an imbalanced binary set, pick the learning rate on validation,
refit on train + validation, test once; then the same with class weights, the fix for the imbalance. The report
puts macro-F1 before and after the fix side by side.

The imbalance is made, not found: SST-2 with 90% of the positive training sentences dropped
(--train_label_fraction=positive:0.1); validation and test keep their natural balance.

    python scripts/study_head_only.py                    # SST-2 from ../shared/data
    python scripts/study_head_only.py --smoke            # the embedded sample, a few steps
"""

from absl import flags

import studylib  # first: it puts the checkout on sys.path
from tfft.studies.report import write_comparison

flags.DEFINE_string("lrs", "1e-4,1e-3,1e-2", "Learning rates for the head.")
FLAGS = flags.FLAGS


def study(output_dir):
    arms = {}
    for weights in ("none", "balanced"):
        name = f"class weights: {weights}"
        arms[name] = output_dir / f"class_weights_{weights}"
        studylib.sweep(arms[name], studylib.base_run(freeze="all", class_weights=weights, metric_for_best="f1_macro"),
                       f"lr={FLAGS.lrs}", refit=True)
    write_comparison(output_dir, "Head-only training on an imbalanced set, before and after class weights", arms,
                     note=f"Training data: {FLAGS.train_label_fraction or 'as given'} kept of the named class; "
                          "validation and test keep their natural balance. Compare test f1_macro across the arms.")


if __name__ == "__main__":
    studylib.launch(study, preset=["--flagfile=flags/sst2.cfg", "--train_label_fraction=positive:0.1",
                                   "--epochs=2"],
                    smoke=["--flagfile=flags/quickstart_classification.cfg", "--train_label_fraction=positive:0.1",
                           "--max_steps=6", "--lrs=1e-3,1e-2"])
