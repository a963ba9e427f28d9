"""How a deployment's capacity floor is shared between its variants."""

from __future__ import annotations

import math

from .spec import Variant


def weight_share(floor: int, variant: Variant, variants: tuple[Variant, ...]) -> int:
    """A variant's share of a deployment-wide floor: proportional to its traffic weight, rounded
    up, at least 1 (a variant must run somewhere). A 5 % candidate next to a 95 % variant holds
    1 of 15 floor instances, not 15."""
    total = sum(v.weight for v in variants)
    if total <= 0:
        return max(1, floor)
    return max(1, math.ceil(floor * variant.weight / total - 1e-9))
