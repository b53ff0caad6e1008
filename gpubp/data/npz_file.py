"""``.npz`` archives holding arrays ``X`` (n, features) and ``y``; nothing in them is ever unpickled."""

from __future__ import annotations

from typing import Any

from ..backend import host
from ..errors import GpubpError, one_line
from .dataset import Dataset
from .files import open_binary


def load_npz(path: str, need_y: bool = True) -> Dataset:
    """Arrays X (n, f) and y (n,) or (n, t) from an .npz archive, never unpickling anything.

    With ``need_y`` False (prediction) an archive without ``y`` is read too (``y`` is then None).
    """
    with open_binary(path) as f:  # our handle: np.load leaks its own when the zip is corrupt
        if not f.read(1):
            raise GpubpError(f"{path}: the file is empty")
        f.seek(0)
        try:
            archive = host.load(f, allow_pickle=False)
        except Exception as exc:  # np.load raises BadZipFile, ValueError, OSError or EOFError by content
            reason = "neither a zip archive nor a .npy array" if "pickle" in str(exc) else one_line(exc)
            raise GpubpError(f"{path}: not a valid .npz file ({reason})") from None
        if not hasattr(archive, "files"):
            raise GpubpError(f"{path}: holds a single .npy array, not an .npz archive with arrays X and y")
        with archive:
            keys = ("X", "y") if need_y or "y" in archive.files else ("X",)
            for key in keys:
                if key not in archive.files:
                    found = ", ".join(archive.files) or "none"
                    raise GpubpError(f"{path}: no array {key!r} (found: {found}); expected X (n, features) and y (n,)")
            X = _array(archive, path, "X")
            y = _array(archive, path, "y") if "y" in keys else None
    if X.dtype.kind not in "biuf":
        raise GpubpError(f"{path}: array 'X' has dtype {X.dtype}; features must be numbers")
    if X.ndim != 2 or 0 in X.shape:
        raise GpubpError(f"{path}: array 'X' has shape {X.shape}; expected 2-D (samples, features), neither empty")
    X = _finite(path, "X", X.astype(host.float64))
    if y is not None:
        if y.dtype.kind not in "biufU":
            raise GpubpError(f"{path}: array 'y' has dtype {y.dtype}; targets must be numbers or text labels")
        if y.ndim not in (1, 2) or 0 in y.shape[1:]:
            raise GpubpError(f"{path}: array 'y' has shape {y.shape}; expected (samples,) or (samples, targets)")
        if len(y) != len(X):
            raise GpubpError(f"{path}: X has {len(X)} rows but y has {len(y)}")
        if y.dtype.kind == "f":
            y = _finite(path, "y", y.astype(host.float64))
        elif y.dtype.kind in "iu":
            y = y.astype(host.int64)
    features = [f"x{j}" for j in range(X.shape[1])]
    return Dataset(X, y, features, "y", path, lambda i: f"{path}: y[{i}]")


def _array(archive: Any, path: str, key: str) -> Any:
    """One array of the archive; object arrays are refused before any unpickling."""
    try:
        a = archive[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise GpubpError(
                f"{path}: array {key!r} holds Python objects (dtype object); only numeric arrays are read "
                "and pickled data is never loaded"
            ) from None
        raise GpubpError(f"{path}: array {key!r} cannot be read ({one_line(exc)})") from None
    except Exception as exc:  # zlib.error, BadZipFile, EOFError, OSError: a damaged archive
        raise GpubpError(f"{path}: array {key!r} cannot be read, the file is corrupt ({one_line(exc)})") from None
    if not hasattr(a, "dtype"):
        raise GpubpError(f"{path}: member {key!r} is not a .npy array")
    return a


def _finite(path: str, key: str, a: Any) -> Any:
    """``a`` if every value is finite; otherwise an error naming the first bad index."""
    bad = ~host.isfinite(a)
    if host.any(bad):
        index = ", ".join(str(int(i)) for i in host.argwhere(bad)[0])
        raise GpubpError(f"{path}: {key}[{index}] is {a[bad][0]} (values must be finite numbers)")
    return a
