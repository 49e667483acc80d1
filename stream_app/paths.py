"""Where the files the package ships beside itself live (one place for each path).

The default policy and the served models are package data (`stream_app/resources/`), read
through `importlib.resources`, so an installed wheel finds them as a checkout does. In the
repository `stream_app/resources/models` is a link to `models/`, the folder `export` writes the
served artifacts to and their cards live in. The rest (the Kafka jars, the shared datasets) are
development tools found beside a checkout.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def packaged(relative: str) -> Path:
    """A file shipped in the package (`stream_app/resources/<relative>`), as a path."""
    resource = files("stream_app").joinpath("resources", *relative.split("/"))
    return Path(str(resource))


DEFAULT_MODEL_PATH = packaged("models/decay_step.onnx")
#: The same weights as one whole-sequence graph (parity checks, offline scoring).
DEFAULT_SEQUENCE_MODEL_PATH = packaged("models/decay_sequence.onnx")
#: The clickstream model (trained on typed view/click/cart/fav/purchase logs), beside the
#: purchase model: its own card in `models/clickstream/MODEL_CARD.md`.
CLICKSTREAM_MODEL_PATH = packaged("models/clickstream/decay_step.onnx")
DEFAULT_POLICY_PATH = packaged("policy/default.toml")
KAFKA_LOCAL_DIR = REPO_ROOT / "deploy" / "kafka-local"
#: The shared public datasets, in a folder beside the repository.
SHARED_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
