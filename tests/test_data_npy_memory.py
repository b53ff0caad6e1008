"""Loading a .npy file: map pages are let go as rows are copied, so the peak is the copy, not file and copy.

Issue 15.2: ".npy is memory-mapped". The file is mapped, not read; copying
its features into float64 used to leave every page of the map resident too.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]

CHILD = """
import sys
from gpubp.data import load_dataset


def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))


before = status("VmRSS")
d = load_dataset(sys.argv[1])
assert d.X.dtype.name == "float64" and d.y.dtype.name == sys.argv[2], (d.X.dtype, d.y.dtype)
print((status("VmHWM") - before) / (d.X.nbytes + d.y.nbytes))
"""


@pytest.mark.skipif(not pathlib.Path("/proc/self/status").exists(), reason="reads the peak from /proc/self/status")
@pytest.mark.parametrize(("dtype", "target"), [("float64", "float64"), ("int64", "int64")])
def test_a_large_npy_file_peaks_at_its_copy_not_at_file_and_copy(tmp_path, dtype, target):
    path = tmp_path / "big.npy"
    data = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(250_000, 64))  # 122 MiB
    data[:] = np.arange(64, dtype=dtype)
    data.flush()
    del data
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), target], capture_output=True, text=True, env=env, check=True
    )
    assert float(done.stdout) < 1.4, done.stdout  # the copy and a block; the whole map beside it made 2
