"""Offline reference: a user's events through the exported whole-sequence graph (ONNX Runtime)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from stream_app.events.schema import Event
from stream_app.model.features import encode_user_events

REPO = Path(__file__).resolve().parent.parent
SEQUENCE_GRAPH = REPO / "models" / "decay_sequence.onnx"
STEP_GRAPH = REPO / "models" / "decay_step.onnx"


@dataclass
class OfflineState:
    h: np.ndarray
    c: np.ndarray
    mu: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    pi: np.ndarray  # (components, buckets) after the last event


class SequenceGraph:
    def __init__(self, path: Path = SEQUENCE_GRAPH) -> None:
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.hidden = int(
            self.session.get_modelmeta().custom_metadata_map["decay_stream.hidden_size"]
        )

    def final_state(self, events: Sequence[Event]) -> OfflineState:
        """Run one user's events (in order) through the sequence graph from a zero state."""
        enc = encode_user_events(events)
        zeros = np.zeros((1, self.hidden), np.float32)
        h, c, mu, alpha, beta, pi = self.session.run(
            None,
            {
                "event_type": enc.event_type[None, :],
                "category_bucket": enc.category_bucket[None, :],
                "numeric": enc.numeric[None, :, :],
                "h": zeros,
                "c": zeros,
            },
        )
        return OfflineState(h[0], c[0], mu[0, -1], alpha[0, -1], beta[0, -1], pi[0, -1])
