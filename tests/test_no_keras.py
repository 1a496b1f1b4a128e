"""tfft never uses Keras or tensorflow-addons: no import, no tf.keras attribute, no dynamic import of either."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).parent.parent / "tfft"
FORBIDDEN = ("keras", "tf_keras", "tensorflow.keras", "tensorflow_addons")


def _forbidden_module(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def keras_uses(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if _forbidden_module(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and _forbidden_module(node.module):
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.ImportFrom) and node.module == "tensorflow":
            found += [f"from tensorflow import {a.name}" for a in node.names if a.name == "keras"]
        elif isinstance(node, ast.Attribute) and node.attr == "keras":
            found.append(f"line {node.lineno}: .keras")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _forbidden_module(node.value):
            found.append(f"line {node.lineno}: dynamic import of {node.value!r}")
    return found


@pytest.mark.parametrize("snippet", [
    "import keras", "from keras import layers", "import tf_keras as k", "from tensorflow.keras import layers",
    "from tensorflow import keras", "x = tf.keras.layers.Dense(3)", "import tensorflow_addons as tfa",
    "importlib.import_module('keras')",
])
def test_detector_catches(snippet):
    assert keras_uses(snippet)


def test_tfft_is_keras_free():
    files = sorted(PACKAGE.rglob("*.py"))
    assert files, "no sources found under tfft/"
    offenders = {str(f.relative_to(PACKAGE.parent)): uses for f in files if (uses := keras_uses(f.read_text()))}
    assert not offenders, offenders
