"""Install hints: the command that adds one of gpubp's optional extras, for how this gpubp was installed."""

from __future__ import annotations

import os

#: Each optional extra of gpubp and the packages it stands for.
EXTRAS: dict[str, str] = {
    "cuda12": "cupy-cuda12x",
    "cuda13": "cupy-cuda13x",
    "torch": "torch",
    "plot": "matplotlib",
    "onnx": "onnx",
    "mpi": "mpi4py",
}


def installed_from() -> tuple[str, str | None]:
    """How the gpubp being run was installed: ``(kind, where)``.

    ``kind`` is ``editable`` (``pip install -e``; ``where`` is the checkout),
    ``folder`` (``pip install .``), ``archive`` (a wheel or sdist file or URL),
    ``index`` (no record: an index, or a tool that writes none), or ``source`` when this gpubp is not the
    installed one (run from a checkout on ``PYTHONPATH``; ``where`` is its folder).
    Read from the distribution's ``direct_url.json`` (PEP 610).
    """
    import json
    from importlib import metadata
    from urllib.parse import unquote, urlparse

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # gpubp/, which holds backend/
    here = os.path.dirname(package)  # the folder holding this gpubp package
    try:
        dist = metadata.distribution("gpubp")
    except metadata.PackageNotFoundError:
        return "source", here
    text = dist.read_text("direct_url.json")
    if text is None:
        return "index", None
    try:
        info = json.loads(text)
        url = str(info.get("url", ""))
    except (ValueError, AttributeError):
        return "index", None
    path = unquote(urlparse(url).path) if url.startswith("file://") else None
    if "dir_info" in info:
        if path is not None and os.path.realpath(path) != os.path.realpath(here):
            return "source", here  # another checkout is installed; this one runs from PYTHONPATH
        return ("editable" if info["dir_info"].get("editable") else "folder"), path
    return "archive", url


def install_hint(extra: str) -> str:
    """The command that adds gpubp's optional ``extra`` (a key of :data:`EXTRAS`) here.

    gpubp is not on a package index, so ``pip install 'gpubp[cuda12]'`` finds
    nothing; an editable checkout can name its own folder with the extra, and
    every other install takes the package itself (``cupy-cuda12x``).
    """
    package = EXTRAS[extra]
    kind, where = installed_from()
    if kind == "editable" and where:
        return f"pip install -e '{where}[{extra}]' or pip install {package}"
    return f"pip install {package}"
