"""Run every script here twice -- scikit-learn's import, then gpubp's -- and compare what they print.

    PYTHONPATH=$PWD python scripts/sklearn_compat/run.py [names...]

A script passes when it runs under gpubp wherever it runs under scikit-learn, its ``S`` lines match
exactly and its ``W`` line (warning categories) matches; ``N`` lines (scores) are shown side by side.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
SK = "from sklearn.neural_network import "  # the one line a user changes
GP = "from gpubp import "


def run(path, gpubp):
    text = path.read_text()
    if gpubp:
        if text.count(SK) != 1:
            raise SystemExit(f"{path.name}: needs exactly one line '{SK}...'")
        text = text.replace(SK, GP)
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", text], capture_output=True, text=True, env=env, cwd=HERE, timeout=600)
    return proc, time.perf_counter() - t


def lines(out, kind):
    return [line for line in out.splitlines() if line.startswith(kind + " ")]


def main(names):
    scripts = sorted(HERE.glob("c[0-9]*.py"))
    if names:
        scripts = [p for p in scripts if any(n in p.stem for n in names)]
    bad = 0
    for path in scripts:
        sk, t_sk = run(path, False)
        gp, t_gp = run(path, True)
        problems = []
        if gp.returncode != 0 and sk.returncode == 0:
            problems.append("gpubp failed: " + gp.stderr.strip().splitlines()[-1] if gp.stderr.strip() else "?")
        if sk.returncode != 0:
            problems.append("sklearn failed: " + (sk.stderr.strip().splitlines() or ["?"])[-1])
        for a, b in zip(lines(sk.stdout, "S"), lines(gp.stdout, "S"), strict=False):
            if a != b:
                problems.append(f"differs:\n      sklearn {a}\n      gpubp   {b}")
        if len(lines(sk.stdout, "S")) != len(lines(gp.stdout, "S")) and not problems:
            problems.append("a different number of S lines")
        if lines(sk.stdout, "W") != lines(gp.stdout, "W") and gp.returncode == 0:
            problems.append(f"warnings: sklearn {lines(sk.stdout, 'W')} gpubp {lines(gp.stdout, 'W')}")
        nums = [
            f"{a[2:].split(':')[0]} {a.split(': ')[1]}|{b.split(': ')[1]}"
            for a, b in zip(lines(sk.stdout, "N"), lines(gp.stdout, "N"), strict=False)
        ]
        status = "OK  " if not problems else "DIFF"
        bad += bool(problems)
        print(f"{status} {path.stem:34s} {t_sk:5.1f}s {t_gp:5.1f}s  {'; '.join(nums)}")
        for p in problems:
            print("     ", p)
        if problems and os.environ.get("SHOW"):
            print(gp.stderr[-3000:])
    print(f"{len(scripts) - bad}/{len(scripts)} alike")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
