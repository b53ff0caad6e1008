"""Arrays at the edge: the host library and its random numbers, the namespace of any array, device checks,
and the one way back to the host, counted.

Every copy between host and device goes through :func:`to_host` and
:meth:`~gpubp.backend.Backend.asarray`, which count them in one place
(:func:`transfer_counts`), so a training step can be held to a budget of zero syncs.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import array_api_compat
import numpy

from ..errors import DeviceMismatchError, GpubpError
from .devices import device_name

#: The host array library: data files, splits and random numbers live here.
host: ModuleType = numpy

#: Host<->device copies so far, by direction (read with :func:`transfer_counts`).
_TRANSFERS = {"to_host": 0, "to_device": 0}


def host_rng(seed: Any) -> numpy.random.Generator:
    """A host random generator: the only source of randomness in gpubp.

    ``seed`` is an int, None (fresh entropy), a ``Generator`` (returned as is)
    or a legacy ``RandomState`` (scikit-learn's ``random_state``), which seeds a
    new generator from one draw of its own.
    """
    if isinstance(seed, numpy.random.Generator):
        return seed
    if isinstance(seed, numpy.random.RandomState):
        return numpy.random.default_rng(seed.randint(numpy.iinfo(numpy.int32).max))
    return numpy.random.default_rng(seed)


_NAMESPACES: dict[type, Any] = {}


def namespace(*arrays: Any) -> Any:
    """The Array-API namespace of ``arrays``; they must share one library.

    Cached per array type, so calling it on every forward costs a dict look-up.

    Raises
    ------
    DeviceMismatchError
        The arrays come from different array libraries; the message names both.
    """
    first = type(arrays[0])
    for other in arrays[1:]:
        if type(other) is not first:
            raise DeviceMismatchError(f"arrays from different libraries: {_library(arrays[0])} and {_library(other)}")
    xp = _NAMESPACES.get(first)
    if xp is None:
        try:
            xp = array_api_compat.array_namespace(arrays[0])
        except TypeError:
            raise GpubpError(f"not an Array-API array: {first.__module__}.{first.__name__}") from None
        _NAMESPACES[first] = xp
    return xp


def _library(x: Any) -> str:
    return f"{type(x).__module__.split('.')[0]} ({type(x).__name__})"


def device_of(x: Any) -> Any:
    """The device an array lives on."""
    return array_api_compat.device(x)


def check_same_device(a: Any, b: Any, what_a: str = "input", what_b: str = "parameters") -> None:
    """Fail loudly if ``a`` and ``b`` are from different libraries or devices.

    Raises
    ------
    DeviceMismatchError
        Naming both libraries or both devices, e.g. ``input is on cpu but
        parameters are on device1``.
    """
    if type(a) is not type(b):
        raise DeviceMismatchError(
            f"{what_a} is a {_library(a)} array but {what_b} are {_library(b)} arrays; "
            "move one with gpubp.to_backend or Sequential.to"
        )
    da, db = array_api_compat.device(a), array_api_compat.device(b)
    if da != db:
        raise DeviceMismatchError(
            f"{what_a} is on {device_name(da)} but {what_b} are on {device_name(db)}; "
            "move one with gpubp.to_backend or Sequential.to"
        )


def to_host(x: Any, copy: bool = False) -> numpy.ndarray:
    """Copy a device array to a host NumPy array (counted; the one way back).

    Parameters
    ----------
    x : array
        Any Array-API array, on any device.
    copy : bool
        Return a copy even where the host array would share memory with ``x``
        (a NumPy array, a CPU torch tensor, an array-api-strict array).
    """
    _TRANSFERS["to_host"] += 1
    if isinstance(x, numpy.ndarray):
        return x.copy() if copy else x
    if isinstance(x, numpy.generic):  # NumPy reductions return scalars
        return numpy.asarray(x)
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_torch_array(x):
        out = x.detach().cpu().numpy()  # shares memory with a CPU tensor
    elif array_api_compat.is_array_api_strict_namespace(namespace(x)):
        xp = namespace(x)
        x = x.to_device(xp.__array_namespace_info__().default_device())
        out = numpy.asarray(x)  # shares memory with the array-api-strict array
    else:
        out = numpy.from_dlpack(x)
    return out.copy() if copy else out


def transfer_counts() -> dict[str, int]:
    """How many host<->device copies gpubp has made so far (a copy of the counters)."""
    return dict(_TRANSFERS)
