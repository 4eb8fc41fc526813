"""How a served API declares itself to the catalog, in code."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PlanSpec:
    slug: str
    name: str
    scopes: tuple[str, ...]
    rate_tiers: tuple[str, ...] = ()
    monthly_quota: int | None = None
    requires_approval: bool = False
    is_default: bool = False
    description: str = ""


@dataclass(frozen=True)
class ApiSpec:
    slug: str
    name: str
    version: str
    base_path: str
    description: str
    scopes: dict[str, str]
    # Plans created when missing; after that staff own them in the admin.
    plans: tuple[PlanSpec, ...] = field(default_factory=tuple)
