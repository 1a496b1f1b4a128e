"""Study 4: named-entity recognition on CoNLL-2003 with entity-level (seqeval) metrics per type, baselines,
the most confident mistakes and predictions with the entity spans highlighted.

    python scripts/study_ner.py                          # CoNLL-2003 from ../shared/data (flags/conll2003.cfg)
    python scripts/study_ner.py --smoke                  # the embedded NER sample, a few steps
"""

from absl import flags

import studylib  # first: it puts the checkout on sys.path
from tfft.studies.report import write_report

flags.DEFINE_list("baselines", ["majority", "tfidf_logreg", "frozen_probe"], "Baselines to run.")
FLAGS = flags.FLAGS


def study(output_dir):
    result = studylib.sweep(output_dir, studylib.base_run(), f"lr={FLAGS.lr}")  # one run, tested once
    studylib.baselines(output_dir / result["protocol"]["run_dir"], FLAGS.baselines, output_dir / "baselines")
    write_report(output_dir)


if __name__ == "__main__":
    studylib.launch(study, preset=["--flagfile=flags/conll2003.cfg", "--epochs=1", "--lr=1e-4", "--eval_every=200"],
                    smoke=["--flagfile=flags/quickstart_ner.cfg", "--max_steps=8"])
