"""Import OpenVINO's runtime without its model converter.

``import openvino`` also imports ``openvino.tools.ovc`` (the model conversion API, with its
argument parser, NumPy's masked arrays and a telemetry client that loads ``urllib``) only to
offer ``openvino.convert_model`` at the top level. Bystander reads ONNX with the runtime's own
frontend and never converts, and the converter's import was ~100 ms of a one-photo
``bystander protect`` from a cold start (BENCHMARKS.md, issue 20). ``runtime()`` imports the
package with that one optional import refused, which the package itself tolerates (it is
wrapped in ``try/except ImportError``); ``openvino.convert_model`` stays, importing the
converter when first called, and ``openvino.tools.ovc`` can still be imported explicitly.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
import threading
from types import ModuleType

CONVERTER = "openvino.tools.ovc"

_lock = threading.Lock()


class _RefuseConverter(importlib.abc.MetaPathFinder):
    """A finder that refuses the converter, and nothing else, while it is installed."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname == CONVERTER:
            raise ImportError(f"{CONVERTER} is not needed by bystander")
        return None


def runtime() -> ModuleType:
    """The ``openvino`` module (imported without the converter unless already imported)."""
    with _lock:
        if "openvino" in sys.modules:  # (importing again waits for one under way elsewhere)
            return importlib.import_module("openvino")
        refuse = _RefuseConverter()
        sys.meta_path.insert(0, refuse)
        try:
            module = importlib.import_module("openvino")
        finally:
            sys.meta_path.remove(refuse)
        if not hasattr(module, "convert_model"):  # other code in the process may call it
            vars(module)["convert_model"] = _convert_model
        return module


def _convert_model(*args: object, **kwargs: object) -> object:
    """``openvino.convert_model``, importing the converter on first use."""
    from openvino.tools.ovc import convert_model

    return convert_model(*args, **kwargs)
