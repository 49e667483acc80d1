"""A user's model state as rows of arrays: the LSTM's (h, c), the decay head and its top buckets.

The worker's step gives these as rows of its batched output matrices and the codec reads them as
views of a table value's bytes: no Python float is made per number on the hot path. Tuples of
floats (tests, older changelogs) are accepted too and compare equal to the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import numpy.typing as npt

#: A row of numbers: a numpy row (float32 from the model, float64 from older values) or a tuple.
FloatRow = Union[npt.NDArray[np.floating[Any]], tuple[float, ...]]  # noqa: UP007 (runtime alias)
#: Per mixture component, (bucket, weight) pairs.
BucketPairs = tuple[tuple[tuple[int, float], ...], ...]


class TopBuckets(Sequence[tuple[tuple[int, float], ...]]):
    """The few category buckets of largest weight per mixture component, kept as the bucket ids
    (lists, as the changelog's JSON has them) and one flat array of their weights; read as
    (bucket, weight) pairs per component only when an alert or an action needs them."""

    __slots__ = ("buckets", "weights")

    def __init__(self, buckets: list[list[int]], weights: npt.NDArray[np.floating[Any]]) -> None:
        self.buckets = buckets
        self.weights = weights

    def pairs(self) -> BucketPairs:
        """Per component, its (bucket, weight) pairs."""
        weights = iter(self.weights.tolist())
        return tuple(tuple((b, next(weights)) for b in component) for component in self.buckets)

    def __len__(self) -> int:
        return len(self.buckets)

    def __getitem__(self, index: Any) -> Any:
        return self.pairs()[index]

    def __iter__(self) -> Iterator[tuple[tuple[int, float], ...]]:
        return iter(self.pairs())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and self.pairs() == tuple(map(tuple, other))

    def __hash__(self) -> int:
        return hash(self.pairs())

    def __repr__(self) -> str:
        return f"TopBuckets({self.pairs()!r})"


def top_buckets_of(pairs: Sequence[Sequence[tuple[int, float]]]) -> TopBuckets:
    """`TopBuckets` of (bucket, weight) pairs per component (kept as given when already one)."""
    if isinstance(pairs, TopBuckets):
        return pairs
    buckets = [[int(b) for b, _ in component] for component in pairs]
    weights = np.array([w for component in pairs for _, w in component], np.float64)
    return TopBuckets(buckets, weights)


@dataclass(frozen=True, slots=True, eq=False)
class ModelState:
    """The user's model state after their last event: LSTM (h, c) and the decay head.

    `top_buckets` keeps, per mixture component, the few category buckets with the largest
    weight π_{r,k} (the full R×K distribution is not stored); empty after a step, which does
    not compute π (`stream_app.worker.serving.ServingModel.with_top_buckets` reads it from h).
    """

    version: str
    h: FloatRow
    c: FloatRow
    mu: FloatRow
    alpha: FloatRow
    beta: FloatRow
    top_buckets: Sequence[Sequence[tuple[int, float]]] = ()

    def rows(self) -> tuple[FloatRow, ...]:
        """h, c, mu, alpha, beta."""
        return (self.h, self.c, self.mu, self.alpha, self.beta)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ModelState):
            return NotImplemented
        return (
            self.version == other.version
            and all(_same_numbers(a, b) for a, b in zip(self.rows(), other.rows(), strict=True))
            and top_buckets_of(self.top_buckets) == top_buckets_of(other.top_buckets)
        )

    def __hash__(self) -> int:
        return hash((self.version, *(np.asarray(r, np.float64).tobytes() for r in self.rows())))


def _same_numbers(a: FloatRow, b: FloatRow) -> bool:
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return x.shape == y.shape and bool(np.array_equal(x, y, equal_nan=True))
