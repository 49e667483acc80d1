"""Due times deferred to the silence floor: the same alerts, at the same ticks, as the exact search."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import pytest

from stream_app.data.sources import load_events
from stream_app.events.alert import Alert
from stream_app.events.tick import Tick
from stream_app.schedule.due_schedule import FLOOR_DUE, DueEntry, DueSchedule
from stream_app.schedule.levels import Thresholds
from stream_app.state import UserState, decode_state
from stream_app.worker.metrics import Metrics
from stream_app.worker.pipeline import SourcePosition
from stream_app.worker.serving import ServingModel
from stream_app.worker.ticks import FloorRefiner, TickHandler, emit_due_ticks, rebuild_schedule
from tests.conftest import FIXTURES
from tests.offline_model import STEP_GRAPH
from tests.unit.worker.test_pipeline_model import PARTITIONS, messages, pipeline

pytestmark = pytest.mark.skipif(not STEP_GRAPH.exists(), reason="no committed model in models/")
DAY = 86_400.0
STEP = DAY / 4


@dataclass
class SteppedClock:
    """A clock the test moves."""

    now: float

    def now_seconds(self) -> float:
        return self.now


@dataclass
class Ticked:
    """The alerts of a silence, each with the tick time, and how many ticks a floor's
    refinement sent in the pass that reached it."""

    alerts: list[tuple[float, Alert]]
    sent_when_refined: int = 0


async def alerts_over(
    store: dict[bytes, bytes],
    schedule: DueSchedule,
    model: ServingModel,
    thresholds: Thresholds,
    start: float,
) -> Ticked:
    """200 days of silence, the timer run every `STEP`, each tick handled at once."""
    clock = SteppedClock(start)
    sent: list[tuple[float, Alert]] = []
    ticked = Ticked(sent)

    async def send(alert: Alert, source: SourcePosition) -> None:
        sent.append((clock.now, alert))

    handler = TickHandler(store, send, clock, model.metrics, model, thresholds, {}, schedule)
    offsets = dict.fromkeys(range(PARTITIONS), 0)
    refiner = FloorRefiner(store, model.decay, thresholds)
    refined: set[bytes] = set()

    def refine(schedule: DueSchedule, floors: list[DueEntry]) -> None:
        refined.update(entry.user_key for entry in floors)
        refiner(schedule, floors)

    async def deliver(entry: DueEntry, tick: Tick) -> None:
        assert entry.level != FLOOR_DUE, "a floor reached the tick topic"
        ticked.sent_when_refined += entry.user_key in refined
        offsets[entry.partition] += 1
        position = SourcePosition("ticks", entry.partition, offsets[entry.partition])
        await handler.handle(entry.user_key, tick.to_json(), position)

    while clock.now < start + 200 * DAY:
        clock.now += STEP
        refined.clear()
        await emit_due_ticks(schedule, clock.now, deliver, refine)
    return ticked


@pytest.mark.parametrize(
    ("thresholds", "floors_alert"),
    [(Thresholds(), False), (Thresholds(min_silence_gaps=(4.0, 4.5, 5.0)), True)],
    ids=["crossings-later", "floors-later"],
)
async def test_deferred_due_times_alert_as_the_exact_schedule_does(
    thresholds: Thresholds, floors_alert: bool
) -> None:
    """With the defaults the crossings come after the floors (refining a floor schedules
    them); with long floors a level is often due when its floor is reached, and its tick is
    sent in the same pass."""
    events = list(load_events(str(FIXTURES / "online_retail_sample.csv")))
    start = max(event.ts_seconds for event in events)
    model = ServingModel(STEP_GRAPH, Metrics(), prefer_cuda=False)
    model.load()
    deferred_store: dict[bytes, bytes] = {}
    p = pipeline(deferred_store, model)
    p.clock, p.thresholds = SteppedClock(start), thresholds
    await p.handle_batch(messages(events))
    levels = [e.level for partition in p.schedule.heaps for e in p.schedule.entries(partition)]
    assert levels.count(FLOOR_DUE) > len(levels) // 2, "few users deferred: nothing proved"

    exact_store = copy.deepcopy(deferred_store)
    exact = DueSchedule()
    users = rebuild_schedule(exact, exact_store.items(), PARTITIONS, set(range(PARTITIONS)),
                             model, thresholds)  # fmt: skip
    assert users == len(deferred_store)
    assert FLOOR_DUE not in [e.level for part in exact.heaps for e in exact.entries(part)]

    from_exact = await alerts_over(exact_store, exact, model, thresholds, start)
    from_deferred = await alerts_over(deferred_store, p.schedule, model, thresholds, start)
    assert len({alert.level for _, alert in from_exact.alerts}) == 3, "not every level alerted"
    assert (from_deferred.sent_when_refined > 0) is floors_alert
    assert from_deferred.alerts == from_exact.alerts
    named = [alert for _, alert in from_exact.alerts if alert.top_categories]
    assert len(named) > len(from_exact.alerts) // 2, "π's top buckets not read from h"
    assert settled(deferred_store) == settled(exact_store)


def settled(store: dict[bytes, bytes]) -> dict[bytes, UserState]:
    """The states, but for the offset of the last tick (the deferred run has more ticks)."""
    return {key: replace(decode_state(raw), last_tick_offset=0) for key, raw in store.items()}
