"""Rebuild ``digits.npz`` from the copy of the UCI digits that scikit-learn ships.

A maintainer's script, not part of the library: it needs scikit-learn, which
gpubp never imports at run time (importing this file does nothing; scikit-learn
is imported only when it runs). With gpubp installed, from the repository root::

    python scripts/make_digits.py

It writes ``gpubp/data/digits.npz`` (X: uint8 (1797, 64), values 0..16;
y: uint8 (1797,), digits 0..9) and checks the result against ``load_digits``.
NumPy comes through ``gpubp.backend.host``, as everywhere in gpubp.
"""

from __future__ import annotations

from pathlib import Path

from gpubp.backend import host

OUT = Path(__file__).resolve().parent.parent / "gpubp" / "data" / "digits.npz"


def main() -> None:
    """Write ``gpubp/data/digits.npz`` and verify it."""
    from sklearn.datasets import load_digits  # the maintainer's dependency only

    X, y = load_digits(return_X_y=True)  # X float64 (1797, 64), y int (1797,)
    X8, y8 = X.astype(host.uint8), y.astype(host.uint8)
    assert host.array_equal(X8, X) and host.array_equal(y8, y), "digits values are not small integers"
    host.savez_compressed(OUT, X=X8, y=y8)
    with host.load(OUT, allow_pickle=False) as saved:
        assert host.array_equal(saved["X"], X) and host.array_equal(saved["y"], y)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes): X {X8.shape} uint8, y {y8.shape} uint8")


if __name__ == "__main__":
    main()
