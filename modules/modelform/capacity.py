"""How a deployment's capacity floor is shared between its variants."""

from __future__ import annotations

import math

from .spec import Shadow, Variant


def weight_share(floor: int, variant: Variant, variants: tuple[Variant, ...]) -> int:
    """A variant's share of a deployment-wide floor: proportional to its traffic weight, rounded
    up, at least 1 (a variant must run somewhere). A 5 % candidate next to a 95 % variant holds
    1 of 15 floor instances, not 15. A floor of 0 (an asynchronous deployment that scales to zero)
    stays 0."""
    if floor == 0:
        return 0
    total = sum(v.weight for v in variants)
    if total <= 0:
        return max(1, floor)
    return max(1, math.ceil(floor * variant.weight / total - 1e-9))


def shadow_share(floor: int, shadow: Shadow) -> int:
    """A shadow's share of the deployment's floor: as much of it as the share of requests it sees,
    rounded up, at least 1 (a 20 % shadow of a 10-instance deployment holds 2)."""
    return max(1, math.ceil(floor * shadow.percent / 100 - 1e-9))
