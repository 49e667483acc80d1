"""A round on columns folds events exactly as `apply_event` does, one user at a time."""

import random

import numpy as np

from stream_app.events.schema import EVENT_TYPES, Event, utc_from_seconds
from stream_app.state import UpdateOutcome, UserState, apply_event
from stream_app.state.apply_columns import apply_round
from stream_app.state.columns import ModelShapes, columns_of


def _stream(rng: random.Random, users: int, rounds: int) -> list[list[tuple[Event, int]]]:
    """Per round, one (event, offset) per user: late events, replays and repeated ids too."""
    out = []
    for k in range(rounds):
        row = []
        for u in range(users):
            ts = 1_700_000_000 + rng.uniform(-3, 10) * 86_400 * (k + 1)
            kind = rng.choice(EVENT_TYPES)
            price = rng.choice([None, 0.0, 12.5, rng.uniform(1, 500)])
            event_id = rng.choice([None, f"e{u}-{rng.randrange(4)}"])
            offset = k * 10 + u if rng.random() > 0.1 else rng.randrange(0, k * 10 + u + 1)
            item = f"i{rng.randrange(9)}"
            category = rng.choice([None, "c1", "c2"])
            event = Event(f"u{u}", utc_from_seconds(ts), kind, item, category, price, event_id)
            row.append((event, offset))
        out.append(row)
    return out


def test_a_round_on_columns_equals_apply_event_per_user() -> None:
    rng = random.Random(7)
    for seed in range(5):
        rng.seed(seed)
        users, sequence_length = 12, 4
        states: list[UserState | None] = [None] * users
        states[0] = UserState(last_offset=3, alert_level=2)  # a stored state, no events yet
        columns = columns_of(list(states), ModelShapes(0, 0, 0, 0, 0))
        for round_events in _stream(rng, users, 6):
            rows = np.array([u for u in range(users) if rng.random() < 0.8], np.int64)
            events = [round_events[u][0] for u in rows.tolist()]
            offsets = np.array([round_events[u][1] for u in rows.tolist()], np.int64)
            done = apply_round(columns, rows, events, offsets, sequence_length)
            for i, u in enumerate(rows.tolist()):
                expected, outcome = apply_event(states[u], events[i], offsets[i], sequence_length)
                assert done.outcomes[i] is outcome
                if outcome is not UpdateOutcome.DUPLICATE_OFFSET:
                    states[u] = expected
        assert [columns.state(u) for u in range(users)] == states
