"""README.md's Python example runs as written, and its test command is the one .ci/run runs."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parent.parent


def _run_python_block(index: int, tmp_path) -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    code = blocks[index].replace("/tmp/tfft-example", str(tmp_path / "out"))
    env = {**os.environ, "TFFT_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-"], input=code, cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


@pytest.mark.slow
def test_readme_model_example_runs(tmp_path):
    assert _run_python_block(0, tmp_path) == "(2, 16, 384) (2, 2)"
    assert sorted(p.name for p in (tmp_path / "out").iterdir())[:2] == ["config.json", "model.safetensors"]


@pytest.mark.slow
def test_readme_data_example_runs(tmp_path):
    output = _run_python_block(1, tmp_path)
    assert output.startswith("('O', 'B-LOC', 'I-LOC', 'B-MISC', 'I-MISC', 'B-ORG', 'I-ORG', 'B-PER', 'I-PER') 10 ")
    assert list((tmp_path / "cache" / "features").glob("*.npz"))


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^ {4}(\.venv/bin/python -m pytest[^\n]*?)\s*$", readme, re.M).group(1)
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()
    assert "bash scripts/install.sh" in readme and "bash scripts/install.sh" in (ROOT / ".ci" / "run").read_text()


def test_readme_main_job_uses_an_existing_offline_preset():
    readme = (ROOT / "README.md").read_text()
    flagfile = re.search(r"python -m tfft.train --flagfile=(flags/quickstart_\w+\.cfg)", readme).group(1)
    text = (ROOT / flagfile).read_text()
    assert "--dataset=sample" in text and "--model=all-MiniLM-L6-v2" in text
