"""The offline plan and diff engine: the stacks' real programs under Pulumi's mock runtime."""

from .planner import PlanError, plan_environment, plan_json

__all__ = ["PlanError", "plan_environment", "plan_json"]
