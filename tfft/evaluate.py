"""`python -m tfft.evaluate`: a finished run's best model on its test (or validation) split, for people.

    python -m tfft.evaluate --run_dir=runs/sst2 [--split=validation] [--data=other/data/dir]

Writes RUN/eval/<split>/: metrics.json, classification_report.txt, confusion.json and confusion.png
(classification), errors.md and errors.jsonl (the most confident mistakes), predictions.jsonl, and
predictions.html / predictions.png (a few predictions rendered).
"""

from absl import flags

from tfft import cli
from tfft.studies.evaluation import EvalConfig, evaluate_run

flags.DEFINE_string("run_dir", None, "The training run (python -m tfft.train --output_dir) to evaluate.")
flags.DEFINE_enum("split", "test", ["test", "validation"], "Which split to evaluate.")
flags.DEFINE_string("data", None, "Evaluate on another data set for the same task (default: the run's own); "
                    "read with the run's data flags.")
flags.DEFINE_string("output_dir", None, "Where to write (default: RUN_DIR/eval/SPLIT).")
flags.DEFINE_integer("errors", 20, "Most confident mistakes to list.")
flags.DEFINE_integer("examples", 8, "Predictions to render as HTML and PNG.")
flags.DEFINE_integer("batch_size", 64, "Examples per batch.")
flags.mark_flag_as_required("run_dir")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}: tfft.evaluate takes only flags")
    _, output_dir = evaluate_run(EvalConfig(
        run_dir=FLAGS.run_dir, split=FLAGS.split, data=FLAGS.data, output_dir=FLAGS.output_dir, errors=FLAGS.errors,
        examples=FLAGS.examples, batch_size=FLAGS.batch_size))
    print((output_dir / "classification_report.txt").read_text(encoding="utf-8"), end="")
    print(f"evaluation written to {output_dir}")


if __name__ == "__main__":
    cli.run(main)
