"""The tenants file (`AURION_TENANTS_FILE`): which tenants to load, the variable holding each key,
and optionally the plan each is on. Keys themselves never appear in it, nor in any message about it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from aurion_pipeline.config_checks import ConfigError, is_variable_name, shown_keys

TENANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")  # \Z, not $: "acme\n" is no name


@dataclass(frozen=True)
class TenantSpec:
    """One Aurion tenant to load: its name in the warehouse, the env var holding its key, and
    optionally the plan it is on (used until a /usage/summary snapshot says otherwise)."""

    name: str
    api_key_env: str
    plan: str | None = None


def declared_plans(tenants: Iterable[TenantSpec]) -> dict[str, str | None]:
    """Tenant -> the plan its entry declares (None: none), as loads and `rebuild` store them in
    raw.tenant_plans (Dagster's resource passes its own tenant configs, which have the same fields)."""
    return {t.name: t.plan for t in tenants}


def parse_tenants_file(path: Path, plans: frozenset[str] = frozenset()) -> tuple[TenantSpec, ...]:
    where = f"AURION_TENANTS_FILE ({path})"
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist; create it or point the variable at your tenants file") from None
    except IsADirectoryError:
        raise ConfigError(f"{where} is a folder; point the variable at your tenants YAML file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{where} is not readable YAML ({type(exc).__name__}); fix its syntax") from None
    if isinstance(doc, dict):
        doc = doc.get("tenants")
    if not isinstance(doc, list) or not doc:
        raise ConfigError(f"{where} must be a non-empty YAML list of {{name, api_key_env, plan (optional)}}")
    tenants = tuple(_tenant_entry(entry, i, where, plans) for i, entry in enumerate(doc))
    names = [t.name for t in tenants]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{where} lists tenant(s) more than once: {', '.join(dupes)}; keep one entry each")
    return tenants


_ENTRY_KEYS = {"name", "api_key_env", "plan"}


def _tenant_entry(entry: object, index: int, where: str, plans: frozenset[str]) -> TenantSpec:
    if not isinstance(entry, dict) or not {"name", "api_key_env"} <= set(entry):
        raise ConfigError(f"{where}: entry {index + 1} must have the keys name and api_key_env (and optionally plan)")
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise ConfigError(f"{where}: entry {index + 1} has unknown key(s) {shown_keys(unknown)}; the keys are "
                          "name, api_key_env and plan (optional)")
    name, key_env, plan = entry.get("name"), entry.get("api_key_env"), entry.get("plan")
    if not isinstance(name, str) or not TENANT_NAME.match(name):
        raise ConfigError(f"{where}: entry {index + 1} has an invalid name; use letters, digits, _ . -")
    if not is_variable_name(key_env):
        raise ConfigError(
            f"{where}: tenant {name!r} needs api_key_env, the NAME of an environment variable holding its key "
            "(value not shown: it is not a variable name; never put the key itself in this file)"
        )
    if plan is not None and (not isinstance(plan, str) or (plans and plan not in plans)):
        known = ", ".join(sorted(plans)) or "a plan of seeds/plan_tiers.csv"
        raise ConfigError(f"{where}: tenant {name!r} declares plan {plan!r}; use one of {known}")
    return TenantSpec(name=name, api_key_env=key_env, plan=plan)
