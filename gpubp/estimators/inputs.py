"""Any array library in, the same library out: validating inputs once and giving results back.

Host inputs (NumPy arrays, lists, pandas frames) go through scikit-learn's
``validate_data`` -- feature names, ``n_features_in_``, dtypes, NaN and
infinity, sparse matrices -- and move to the backend's device once. An array
of another library (a torch tensor, a CuPy array, an array-api-strict array)
is checked where it lives, with array-API calls only, and is trained on in
place: no host round trip. Results go back to the library and device of the
``X`` they were computed for.

scikit-learn's own ``ValueError``/``TypeError`` messages are kept, raised as
:class:`~gpubp.errors.GpubpError` (gpubp's own error type, still a ``ValueError``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import array_api_compat
import scipy.sparse
from sklearn.utils import check_array, column_or_1d
from sklearn.utils.validation import _check_sample_weight, _num_samples, validate_data

from ..backend import Backend, backend_of, host, namespace, to_backend, to_host
from ..errors import GpubpError, InputTypeError, one_line
from ..io import physical_memory


@contextlib.contextmanager
def gpubp_errors() -> Iterator[None]:
    """scikit-learn's validation errors, re-raised as GpubpError with the same words."""
    try:
        yield
    except GpubpError:
        raise
    except TypeError as exc:
        raise InputTypeError(one_line(exc)) from None
    except ValueError as exc:
        raise GpubpError(one_line(exc)) from None


def holds(flag: Any) -> bool:
    """A 0-d boolean array as a Python bool: an explicit, counted read (device arrays are never cast implicitly)."""
    return bool(to_host(flag)) if is_device_array(flag) else bool(flag)


def is_device_array(x: Any) -> bool:
    """An array of an Array-API library other than NumPy (torch, CuPy, array-api-strict, ...)."""
    return array_api_compat.is_array_api_obj(x) and not isinstance(x, (host.ndarray, host.generic))


def check_X(estimator: Any, X: Any, *, reset: bool, part: bool = False) -> Any:
    """Validate ``X`` (and record or check ``n_features_in_`` / ``feature_names_in_``).

    Returns a host float array, or the device array itself (checked in place). ``part``: one process's
    part of a data set spread over processes, which may hold no row.
    """
    with gpubp_errors():
        if not is_device_array(X):
            X = validate_data(
                estimator, X, reset=reset, dtype=(host.float64, host.float32), accept_sparse=_SPARSE,
                ensure_min_samples=0 if part else 1,
            )  # fmt: skip
            return dense(X)
        validate_data(estimator, X, reset=reset, skip_check_array=True)
    return check_device_matrix(X, "X", part=part)


#: The sparse formats accepted (as scikit-learn's MLP accepts them): made dense once, on the host.
_SPARSE = ("csr", "csc", "coo")


def dense(X: Any) -> Any:
    """A validated host ``X``, dense: a SciPy sparse matrix or array becomes a NumPy array once (gpubp's
    layers take dense arrays), unless that would not fit in this machine's memory."""
    if not scipy.sparse.issparse(X):
        return X
    need = X.shape[0] * X.shape[1] * X.dtype.itemsize
    have = physical_memory()
    if have is not None and need > have // 2:
        raise GpubpError(
            f"X is a sparse matrix of shape {X.shape}; gpubp trains on dense arrays and its dense form needs "
            f"{need / 2**30:.1f} GiB, more than half of this machine's {have / 2**30:.1f} GiB: reduce its columns "
            "(e.g. TruncatedSVD or max_features)"
        )
    return X.toarray()


def check_device_matrix(X: Any, name: str, *, part: bool = False) -> Any:
    """A device array as features: 2-D, at least one row (unless ``part``), real numbers, all finite (one bool read)."""
    xp = namespace(X)
    if X.ndim != 2:
        raise GpubpError(f"{name} must be 2-D (samples, features), got shape {tuple(X.shape)}")
    if X.shape[0] == 0 and not part:
        raise GpubpError(f"Found array with 0 sample(s) (shape={tuple(X.shape)}) while a minimum of 1 is required.")
    if not (xp.isdtype(X.dtype, "real floating") or xp.isdtype(X.dtype, "integral") or X.dtype == xp.bool):
        raise GpubpError(f"{name} must hold real numbers, got dtype {X.dtype}")
    if xp.isdtype(X.dtype, "real floating") and not holds(xp.all(xp.isfinite(X))):
        raise GpubpError(f"Input {name} contains NaN or infinity.")
    return X


def check_fit_data(
    estimator: Any, X: Any, y: Any, *, reset: bool, numeric: bool, part: bool = False
) -> tuple[Any, Any]:
    """Validate ``X`` and ``y`` together for ``fit``; ``y`` comes back 1-D where it has one column.

    Host ``X``: scikit-learn's ``validate_data`` on both. A device ``X``: its
    own checks, and ``y`` (host or device) checked to match. ``part``: one
    process's part of a data set spread over processes, which may hold no row
    (the caller checks that the parts together hold some).
    """
    if y is None:
        raise GpubpError(f"{type(estimator).__name__} requires y to be passed, but the target y is None.")
    if not is_device_array(X):
        if is_device_array(y):
            y = to_host(y)
        with gpubp_errors():
            if part and _num_samples(X) == 0:  # scikit-learn checks y's rows too, with no way to allow none
                X = validate_data(
                    estimator, X, reset=reset, dtype=(host.float64, host.float32), accept_sparse=_SPARSE,
                    ensure_min_samples=0,
                )  # fmt: skip
                y = check_array(y, ensure_2d=False, dtype="numeric" if numeric else None, ensure_min_samples=0,
                                input_name="y")  # fmt: skip
            else:
                X, y = validate_data(
                    estimator, X, y, reset=reset, multi_output=True, y_numeric=numeric,
                    dtype=(host.float64, host.float32), accept_sparse=_SPARSE,
                )  # fmt: skip
        X = dense(X)
    else:
        X = check_X(estimator, X, reset=reset, part=part)
        if not is_device_array(y):
            with gpubp_errors():
                y = check_array(
                    y, ensure_2d=False, dtype="numeric" if numeric else None, input_name="y",
                    ensure_min_samples=0 if part else 1,
                )  # fmt: skip
        elif y.ndim not in (1, 2):
            raise GpubpError(f"y must be 1-D or 2-D, got shape {tuple(y.shape)}")
        elif numeric:
            check_device_matrix(y if y.ndim == 2 else namespace(y).reshape(y, (y.shape[0], 1)), "y", part=part)
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True) if not is_device_array(y) else namespace(y).reshape(y, (-1,))
    if y.shape[0] != _rows(X):
        raise GpubpError(f"Found input variables with inconsistent numbers of samples: [{_rows(X)}, {y.shape[0]}]")
    return X, y


def _rows(X: Any) -> int:
    return int(X.shape[0])


def check_sample_weight(sample_weight: Any, X: Any, *, part: bool = False) -> Any:
    """Per-sample weights: host float64 (n,) or the device array; finite, >= 0, not all zero.

    ``part``: one process's part of a data set spread over processes, whose weights may all be zero (the
    caller checks that the parts together weigh something).
    """
    if sample_weight is None:
        return None
    n = _rows(X)
    if is_device_array(sample_weight):
        xp = namespace(sample_weight)
        if sample_weight.ndim != 1 or sample_weight.shape[0] != n:
            raise GpubpError(f"sample_weight.shape == {tuple(sample_weight.shape)}, expected ({n},)!")
        w = sample_weight
        ok = xp.all(xp.isfinite(w)) & xp.all(w >= 0) & (xp.any(w > 0) | part)
        if not holds(ok):
            raise GpubpError("Sample weights must be finite, non-negative and contain at least one non-zero number.")
        return w
    if part and sample_weight is not None and not host.isscalar(sample_weight):
        with gpubp_errors():  # scikit-learn refuses weights that are all zero: a part's may be
            w = check_array(sample_weight, ensure_2d=False, dtype=host.float64, ensure_min_samples=0, input_name="")
        if w.ndim != 1 or w.shape[0] != n:
            raise GpubpError(f"sample_weight.shape == {w.shape}, expected ({n},)!")
        if not host.all(w >= 0):
            raise GpubpError("Negative values in data passed to sample_weight")
        return w
    with gpubp_errors():
        X_like = X if not is_device_array(X) else host.empty((n, 0))
        w = _check_sample_weight(sample_weight, X_like, dtype=host.float64, ensure_non_negative=True)
    if not host.all(host.isfinite(w)):
        raise GpubpError("Input sample_weight contains NaN or infinity.")
    return w


def to_device(x: Any, backend: Backend, dtype: Any) -> Any:
    """``x`` on ``backend``'s device in ``dtype``: one copy from the host, or a cast where it already is.

    A C-ordered NumPy array already in ``dtype`` stays where it is for the NumPy backend (a read-only view).
    """
    if isinstance(dtype, (host.dtype, type)) and not isinstance(x, Any.__class__):  # a NumPy dtype: the backend's twin
        dtype = getattr(backend.xp, host.dtype(dtype).name)
    if is_device_array(x):
        if backend_of(x).name == backend.name and x.device == backend.device:
            xp = backend.xp
            return x if x.dtype == dtype else xp.astype(x, dtype)
        return to_backend(x, backend, dtype=dtype)  # another library or device: through the host, once
    if backend.name == "numpy" and isinstance(x, host.ndarray) and x.dtype == dtype and x.flags.c_contiguous:
        view = x.view()  # the host is the device: no copy of a large X (it is only read), ...
        view.flags.writeable = False  # ... and a write into the caller's data would fail loudly
        return view
    return backend.asarray(x, dtype=dtype)


def like(result: Any, X: Any) -> Any:
    """``result`` (on the model's device) in the library and device of the input ``X``."""
    if not is_device_array(X):
        return to_host(result)
    target = backend_of(X)
    if backend_of(result).name == target.name and result.device == target.device:
        return result
    return to_backend(result, target)
