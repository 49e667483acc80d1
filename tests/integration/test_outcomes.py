"""Live outcomes on the real broker: the counted outcomes of alerts equal an offline count.

Real Online Retail events are replayed, users stay silent on an accelerated clock, some come
back after their alert; the outcome counters scraped from /metrics must equal a count made from
the alerts topic and the returns the test sent, once H has passed since every alert counted. The same after a kill -9 in the middle: the
outcomes live in the user states, so none is lost or counted twice.
"""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from stream_app.commands.replay import encode_event
from stream_app.events.schema import Event, EventType, utc_from_seconds
from stream_app.kafka.clients import new_producer
from stream_app.kafka.reading import wait_caught_up
from stream_app.schedule.outcomes import probability_bucket
from stream_app.settings import Settings
from tests.integration.support import (
    DAY,
    WorkerFactory,
    WorkerProcess,
    read_alerts,
    retail_events,
    silent_retail,
    sim_seconds,
    table,
)
from tests.offline_model import STEP_GRAPH

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not STEP_GRAPH.exists(), reason="no committed model in models/"),
]

HORIZON = 30 * DAY  # the committed model's H
COMEBACK_AFTER = 5 * DAY  # a returning user comes back this long after their first alert
OutcomeKey = tuple[str, str, str, str]  # level, model version, probability bucket, outcome


def scraped_outcomes(worker: WorkerProcess) -> Counter[OutcomeKey]:
    """decay_alert_outcomes_total summed over partitions, by its other labels."""
    counts: Counter[OutcomeKey] = Counter()
    for family in text_string_to_metric_families(worker.http_get("/metrics")):
        if family.name != "decay_alert_outcomes":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                labels = sample.labels
                key = (
                    labels["level"],
                    labels["model_version"],
                    labels["probability_bucket"],
                    labels["outcome"],
                )
                counts[key] += int(sample.value)
    return +counts


def offline_outcomes(
    alerts: list[dict[str, object]], returns: dict[str, list[float]], before: float
) -> Counter[OutcomeKey]:
    """Each distinct alert of a silence that ended before `before`: returned if the user's
    first return in the silence came within H of the alert, not returned otherwise (a return
    before the alert counts: a worker that was down alerts late, and the user was back)."""
    counts: Counter[OutcomeKey] = Counter()
    for alert in {str(a["alert_id"]): a for a in alerts}.values():
        if sim_seconds(alert["last_event_at"]) >= before:
            continue  # a silence begun by the last comebacks: still open
        emitted, episode = sim_seconds(alert["emitted_at"]), sim_seconds(alert["last_event_at"])
        # last_event_at has milliseconds: the return that began this silence is not in it
        later = [r for r in returns.get(str(alert["user_id"]), []) if r > episode + 0.001]
        back = min(later, default=None)
        returned = back is not None and back <= emitted + HORIZON
        p = float(alert["return_probability"])  # type: ignore[arg-type]
        level, version = str(alert["level"]), str(alert["model_version"])
        outcome = "returned" if returned else "not_returned"
        counts[(level, version, probability_bucket(p), outcome)] += 1
    return counts


def send_returns(settings: Settings, users: list[str], at: float) -> None:
    """Each of `users` comes back (a view) at simulated time `at`."""
    assert settings.bootstrap_servers
    producer = new_producer(settings.bootstrap_servers)
    for user in users:
        back = Event(user, utc_from_seconds(at), EventType.VIEW, "85123A", None, None, f"b{at}")
        key, value = encode_event(back)
        producer.send(settings.events_topic, key=key, value=value)
    producer.flush()
    producer.close()


def comebacks(
    alerts: list[dict[str, object]], returns: dict[str, list[float]], now: float
) -> list[str]:
    """Every other user first alerted more than COMEBACK_AFTER ago and not back since."""
    first_alert: dict[str, float] = {}
    for alert in alerts:
        first_alert.setdefault(str(alert["user_id"]), sim_seconds(alert["emitted_at"]))
    return [
        user
        for i, (user, at) in enumerate(sorted(first_alert.items()))
        if not i % 2 and user not in returns and at < now - COMEBACK_AFTER
    ]


def print_mismatches(
    settings: Settings,
    alerts: list[dict[str, object]],
    returns: dict[str, list[float]],
    final: float,
) -> None:
    """The users whose outcome tallies in the table differ from the offline count (to debug)."""
    for user, state in sorted(table(settings).items()):
        want = offline_outcomes([a for a in alerts if a["user_id"] == user], returns, final)
        got: Counter[OutcomeKey] = Counter()
        for key, tally in state.outcomes.alerts:
            labels = (key.level, key.model_version, key.probability_bucket)
            got[(*labels, "returned")] += tally.returned
            got[(*labels, "not_returned")] += tally.predictions - tally.returned
        if +got != want:
            print("differs:", user, dict(+got), dict(want), returns.get(user), state.predictions)


def run_and_count(
    settings: Settings, workers: WorkerFactory, *, kill_at_days: float | None
) -> tuple[Counter[OutcomeKey], Counter[OutcomeKey]]:
    """Replay, watch the silence (some users come back), optionally kill -9 once; then every
    user comes back and H passes, which counts every open prediction; both counts."""
    settings, clock, worker = silent_retail(settings, workers, "first")
    start = clock.start
    returns: dict[str, list[float]] = {}
    kill_at = None if kill_at_days is None else start + kill_at_days * DAY
    while clock.now() < start + 90 * DAY:
        if kill_at is not None and clock.now() > kill_at:
            worker.stop(signal.SIGKILL)
            second = settings.model_copy(update={"data_dir": settings.data_dir.parent / "b"})
            worker, kill_at = workers.start(second, "second"), None
        alerts = read_alerts(settings)
        now = clock.now()
        back = comebacks(alerts, returns, now)
        send_returns(settings, back, now)
        for user in back:
            returns.setdefault(user, []).append(now)
        time.sleep(1.0)
    everyone = sorted({e.user_id for e in retail_events()})
    final = clock.now()
    send_returns(settings, everyone, final)
    for user in everyone:
        returns.setdefault(user, []).append(final)
    wait_caught_up(
        settings.bootstrap_servers, settings.app_id, settings.events_topic, timeout_seconds=120
    )
    # An alert is counted once H (and the grace) passed since it, returned or not: wait until
    # every alert of a silence that ended at `final` is, then for the ticks that count them.
    grace = settings.outcome_grace_seconds
    counted_by = final + HORIZON + grace + 2 * DAY
    while clock.now() < counted_by:
        time.sleep(0.5)
    alerts = read_alerts(settings)
    expected = offline_outcomes(alerts, returns, final)
    deadline = time.monotonic() + 60
    scraped = scraped_outcomes(worker)
    matched = counted_as_expected(scraped, expected, alerts, final, clock.now() - grace)
    while matched is None and time.monotonic() < deadline:
        time.sleep(0.5)  # progress: the deadline ticks are taken in batches
        alerts, scraped = read_alerts(settings), scraped_outcomes(worker)
        expected = offline_outcomes(alerts, returns, final)
        matched = counted_as_expected(scraped, expected, alerts, final, clock.now() - grace)
    if matched is None:
        print_mismatches(settings, alerts, returns, final)
    assert sum(expected.values()) >= 20, "too few alerts to compare"
    outcomes = {key[3] for key in expected}
    assert outcomes == {"returned", "not_returned"}, outcomes
    return scraped, matched or expected


def counted_as_expected(
    scraped: Counter[OutcomeKey],
    expected: Counter[OutcomeKey],
    alerts: list[dict[str, object]],
    final: float,
    now_less_grace: float,
) -> Counter[OutcomeKey] | None:
    """`scraped` is `expected` plus the first few alerts (by deadline) of the silences begun at
    `final`, whose H may have passed by now (none of their users came back)."""
    later = sorted(
        (sim_seconds(a["emitted_at"]) + HORIZON, a)
        for a in {str(a["alert_id"]): a for a in alerts}.values()
        if sim_seconds(a["last_event_at"]) >= final
        and sim_seconds(a["emitted_at"]) + HORIZON <= now_less_grace
    )
    want = Counter(expected)
    for _, alert in [(0.0, None), *later]:
        if alert is not None:
            p = float(alert["return_probability"])  # type: ignore[arg-type]
            key = (str(alert["level"]), str(alert["model_version"]), probability_bucket(p))
            want[(*key, "not_returned")] += 1
        if scraped == want:
            return want
    return None


def test_outcome_metrics_equal_an_offline_count(settings: Settings, workers: WorkerFactory) -> None:
    scraped, expected = run_and_count(settings, workers, kill_at_days=None)
    assert scraped == expected


def test_a_kill_9_neither_loses_nor_repeats_an_outcome(
    settings: Settings, workers: WorkerFactory
) -> None:
    scraped, expected = run_and_count(settings, workers, kill_at_days=45)
    assert scraped == expected
