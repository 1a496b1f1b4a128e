"""Study 1: which learning rate? A sweep with early stopping, the pick tested once, compared with every baseline,
with loss curves, the most confident mistakes and example predictions in the report.

    python scripts/study_learning_rate.py                    # SST-2 from ../shared/data (flags/sst2.cfg)
    python scripts/study_learning_rate.py --flagfile=flags/ag_news.cfg --lrs=2e-5,5e-5
    python scripts/study_learning_rate.py --smoke            # the embedded sample, a few steps
"""

from absl import flags

import studylib  # first: it puts the checkout on sys.path
from tfft.studies.report import write_report

flags.DEFINE_string("lrs", "2e-5,5e-5,1e-4", "Learning rates to compare.")
flags.DEFINE_list("baselines", ["majority", "tfidf_logreg", "frozen_probe", "untrained"], "Baselines to run.")
FLAGS = flags.FLAGS


def study(output_dir):
    result = studylib.sweep(output_dir, studylib.base_run(), f"lr={FLAGS.lrs}")
    studylib.baselines(output_dir / result["protocol"]["run_dir"], FLAGS.baselines, output_dir / "baselines")
    write_report(output_dir)


if __name__ == "__main__":
    studylib.launch(study, preset=["--flagfile=flags/sst2.cfg", "--epochs=1", "--eval_every=50",
                                   "--early_stopping_patience=3"],
                    smoke=["--flagfile=flags/quickstart_classification.cfg", "--max_steps=8", "--eval_every=4",
                           "--early_stopping_patience=2", "--lrs=1e-4,3e-4"])
