"""Where the files the package ships beside itself live (one place for each path)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_PATH = REPO_ROOT / "models" / "decay_step.onnx"
#: The same weights as one whole-sequence graph (parity checks, offline scoring).
DEFAULT_SEQUENCE_MODEL_PATH = REPO_ROOT / "models" / "decay_sequence.onnx"
#: The clickstream model (trained on typed view/click/cart/fav/purchase logs), beside the
#: purchase model: its own card in `models/clickstream/MODEL_CARD.md`.
CLICKSTREAM_MODEL_PATH = REPO_ROOT / "models" / "clickstream" / "decay_step.onnx"
DEFAULT_POLICY_PATH = REPO_ROOT / "deploy" / "policy" / "default.toml"
KAFKA_LOCAL_DIR = REPO_ROOT / "deploy" / "kafka-local"
#: The shared public datasets, in a folder beside the repository.
SHARED_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
