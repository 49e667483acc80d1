"""Activation policy: decide coupon, push and re-recommend actions from alerts and state (pure).

The worker calls `decide_actions` for every alert (and with `alert=None` after every event, for
interest migration), publishes `Decision.actions`, and stores `Decision.history` (per user) and
`Decision.budget` (per bucket).
"""

from stream_app.policy.budget import BucketSpec, BudgetState
from stream_app.policy.config import Policy, load_policy, parse_policy
from stream_app.policy.decide import Decision, SkipReason, decide_actions, in_control_group
from stream_app.policy.exceptions import PolicyError
from stream_app.policy.history import ActionHistory
from stream_app.policy.migration import InterestShift, detect_interest_migration
from stream_app.policy.records import Action, ActionKind, Reason

__all__ = [
    "Action",
    "ActionHistory",
    "ActionKind",
    "BucketSpec",
    "BudgetState",
    "Decision",
    "InterestShift",
    "Policy",
    "PolicyError",
    "Reason",
    "SkipReason",
    "decide_actions",
    "detect_interest_migration",
    "in_control_group",
    "load_policy",
    "parse_policy",
]
