"""The one way darekana opens an ONNX model: on the CPU, with a thread cap, errors as ``BundleError``."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from .errors import BundleError


def open_session(path: str | Path, threads: int | None = None) -> ort.InferenceSession:
    """An ONNX Runtime session for ``path``. One session serves any number of threads at once
    (``InferenceSession.run`` is thread-safe), so each model is opened once per process."""
    options = ort.SessionOptions()
    # Idle pool threads would spin for work after every run, taking the cores decoding, cropping and the other
    # models need between runs (measured: decoding a 1024 px PNG twice as slow beside three spinning sessions).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for missing or broken graphs
        raise BundleError(f"{path} cannot be loaded: {exc}") from None
