"""Acting on alerts and interest shifts: the policy's decisions published to the actions topic.

The coupon budget is split evenly across the topic's partitions (one token bucket per partition,
so workers never need to agree and the sum never exceeds the global budget). A bucket starts
empty when a worker takes a partition and fills at its rate: a restart can only spend less.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace

from stream_app.events.alert import Alert
from stream_app.policy import ActionHistory, BudgetState, Policy, PolicyError, decide_actions
from stream_app.policy.migration import shift_possible
from stream_app.policy.records import Action
from stream_app.service.ports import SourcePosition
from stream_app.state import UserState
from stream_app.worker.metrics import Metrics

#: Publishes an action caused by the input message at the position given.
ActionSink = Callable[[Action, SourcePosition], Awaitable[None]]


def per_partition_policy(policy: Policy, partitions: int) -> Policy:
    """The policy with its coupon budget divided among `partitions` buckets.

    A share below one coupon could never pay for one: that is refused at start-up.
    """
    capacity = policy.coupon.budget_capacity
    if 0 < capacity < partitions:
        raise PolicyError(
            f"coupon.budget_capacity = {capacity:g} is split over {partitions} partitions: a "
            f"bucket of {capacity / partitions:g} tokens can never pay for a coupon; use at "
            f"least {partitions} (or 0 for no coupons)"
        )
    coupon = policy.coupon.model_copy(
        update={
            "budget_capacity": policy.coupon.budget_capacity / partitions,
            "budget_refill_per_hour": policy.coupon.budget_refill_per_hour / partitions,
        }
    )
    return policy.model_copy(update={"coupon": coupon})


@dataclass
class Activation:
    """Decides and publishes actions; the caller stores the returned state."""

    policy: Policy
    send: ActionSink
    metrics: Metrics
    budgets: dict[int, BudgetState] = field(default_factory=dict)

    def may_shift(self, events_in_ring: int) -> bool:
        """Whether events can lead to an action for a user with this many recent events (an
        interest shift needs enough of them; `act` decides nothing otherwise)."""
        return shift_possible(events_in_ring, self.policy.migration)

    def open_budget(self, partition: int, now_seconds: float) -> None:
        """Start the partition's coupon bucket now if it has none yet, as `act` does."""
        self.budgets.setdefault(partition, BudgetState(0.0, now_seconds))

    async def act(
        self,
        user_id: str,
        alert: Alert | None,
        state: UserState,
        source: SourcePosition,
        now_seconds: float,
        known_categories: Mapping[int, str],
    ) -> tuple[UserState, list[Action]]:
        """Publish the actions due for `alert` (or, with None, an interest shift).

        `source` is the input message that caused them (its partition holds the user's coupon
        budget). Returns the user's state with the actions recorded, and the actions decided (those for
        users in the control group included: they are published with `control` set).
        """
        partition = source.partition
        history = ActionHistory.from_json_dict(dict(state.action_times))
        self.open_budget(partition, now_seconds)
        budget = self.budgets[partition]
        decision = decide_actions(
            user_id, alert, state, self.policy, now_seconds, budget, history, known_categories
        )
        for action in decision.actions:
            await self.send(action, source)
            control = str(action.control).lower()
            self.metrics.actions_total.labels(action.kind.value, control).inc()
            if action.deliver_after is not None:
                self.metrics.actions_deferred_total.labels(action.kind.value, control).inc()
        for skipped in decision.skipped:
            self.metrics.actions_skipped_total.labels(
                skipped.kind.value, skipped.reason.value
            ).inc()
        self.budgets[partition] = decision.budget
        if decision.history == history:
            return state, list(decision.actions)
        times = tuple(sorted(decision.history.to_json_dict().items()))
        return replace(state, action_times=times), list(decision.actions)
