"""README.md's Python example runs as written, and its test command is the one .ci/run runs."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).parent.parent


def test_readme_example_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"```python\n(.*?)```", readme, re.S).group(1).replace("/tmp/tfft-example",
                                                                                str(tmp_path / "out"))
    result = subprocess.run([sys.executable, "-"], input=example, cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "(2, 16, 384) (2, 2)"
    assert sorted(p.name for p in (tmp_path / "out").iterdir())[:2] == ["config.json", "model.safetensors"]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^\s+(\.venv/bin/python -m pytest[^#\n]*?)\s*#", readme, re.M).group(1)
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()
    assert "bash scripts/install.sh" in readme and "bash scripts/install.sh" in (ROOT / ".ci" / "run").read_text()
