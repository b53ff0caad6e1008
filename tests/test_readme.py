"""The README's Python examples run as printed (the scikit-learn drop-in among them)."""

from __future__ import annotations

import pathlib
import re
import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning

README = pathlib.Path(__file__).parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_its_examples():
    assert len(BLOCKS) >= 2 and "from gpubp import MLPClassifier" in BLOCKS[0]


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_a_readme_example_runs(block, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the examples keep max_iter short
        exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out
    assert printed and "nan" not in printed
