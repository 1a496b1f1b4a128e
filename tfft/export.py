"""`python -m tfft.export`: a training run's best model as a SavedModel that serves raw text.

    python -m tfft.export --run_dir=runs/ner-20261123-101500 --export_dir=exports/ner

The export tokenizes in the graph exactly as the model's Hugging Face tokenizer; loading it needs TensorFlow
and `import tensorflow_text`, nothing else. Its signatures are documented in tfft/serving/module.py and README.
"""

import pathlib

from absl import flags

from tfft import cli
from tfft.serving.module import export_run

flags.DEFINE_string("run_dir", None, "The training run (python -m tfft.train --output_dir) whose best/ model to "
                    "export.")
flags.DEFINE_string("export_dir", None, "Where to write the SavedModel (default: RUN_DIR/export).")
flags.DEFINE_boolean("overwrite", False, "Replace an existing export in --export_dir.")
flags.mark_flag_as_required("run_dir")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}: tfft.export takes only flags")
    export_dir = pathlib.Path(FLAGS.export_dir or pathlib.Path(FLAGS.run_dir) / "export")
    path = export_run(FLAGS.run_dir, export_dir, overwrite=FLAGS.overwrite)
    print(f"SavedModel: {path}\ninspect it with: saved_model_cli show --all --dir {path}")


if __name__ == "__main__":
    cli.run(main)
