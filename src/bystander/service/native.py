"""Native bindings that must be initialised on one thread before job workers use them.

OpenVINO's Python bindings (2026.4) deadlock when two threads make their first inference
call at the same moment: the first access to a tensor's data checks NumPy's version from C++
inside a thread-safe static initialiser, and a second thread that reaches the same
initialiser while holding the GIL waits for it forever, while the first waits for the GIL.
Measured with two runners and a barrier in fresh processes: 7 of 20 hung; with this priming
first, 0 of 20 (``tests/test_service_jobs.py`` runs the same race through ``JobRunner``).
This was the service's "resumed jobs stay running at progress 0" defect: after a restart, two
workers started their first protect jobs together.
"""

from __future__ import annotations

import contextlib

from bystander.vision.detectors.backends import prime_openvino


def prime_native_bindings() -> None:
    """Run each native binding's one-time initialisation once, on this thread (idempotent;
    a binding that is not installed is skipped). OpenVINO's runners also do this before
    their first use; the job runner does it before its workers start, so nothing of theirs
    races for it."""
    with contextlib.suppress(ImportError):
        prime_openvino()
