"""`python -m tfft.baseline`: a baseline on the same data and splits as a training run, in the same metrics
format, so `python -m tfft.report` puts it beside the fine-tuned model.

    python -m tfft.baseline --run_dir=runs/sst2 --kind=tfidf_logreg

Kinds: majority (the most frequent training class), tfidf_logreg (TF-IDF + logistic regression; NER: a per-word
logistic regression on word, shape and context features), untrained (the same transformer with random weights,
trained exactly like the run), frozen_probe (a linear probe on the frozen pretrained encoder). Results land in
RUN/baselines/<kind>/ unless --output_dir says otherwise.
"""

from absl import flags, logging

from tfft import cli
from tfft.studies.baselines import KINDS, run_baseline

flags.DEFINE_string("run_dir", None, "The training run whose data, splits and model the baseline uses.")
flags.DEFINE_enum("kind", None, list(KINDS), "Which baseline.")
flags.DEFINE_string("output_dir", None, "Where to write (default: RUN_DIR/baselines/KIND).")
flags.mark_flags_as_required(["run_dir", "kind"])
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}: tfft.baseline takes only flags")
    logging.set_verbosity(logging.INFO)
    result, output_dir = run_baseline(FLAGS.kind, FLAGS.run_dir, FLAGS.output_dir)
    headline = {k: round(v, 4) for k, v in result.items() if isinstance(v, float)}
    print(f"{FLAGS.kind} test metrics: {headline}\nwritten to {output_dir}")


if __name__ == "__main__":
    cli.run(main)
