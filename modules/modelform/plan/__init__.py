"""The offline plan and diff engine: the stacks' real programs under Pulumi's mock runtime."""

from .planner import PlanError, StackMemo, plan_environment, plan_json

__all__ = ["PlanError", "StackMemo", "plan_environment", "plan_json"]
