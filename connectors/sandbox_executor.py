"""The embedded default executor: a simulated fleet and routing table kept in the store.

Each configured target gets a row on first use, initialised from config (fleet min/max, the newest
`instances` figure of the demo world for desired, region routing weights, the failover pair's primary),
so the dashboards can read the effect of an action (`sandbox_targets`, `sandbox_changes`). It checks what
the real systems check (an Auto Scaling group refuses a desired count outside min..max) and answers with
the same shape of TargetState per kind as the AWS executor, so both are interchangeable.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.store import latest_metric_value
from core import db as store_db
from core.config import HeadroomConfig
from core.ports import Change, SourceError, Target, TargetState

SANDBOX_TARGETS_TABLE = "sandbox_targets"
SANDBOX_CHANGES_TABLE = "sandbox_changes"

_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {SANDBOX_TARGETS_TABLE} (
        target TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        region TEXT NOT NULL,
        fleet TEXT NOT NULL,
        desired INTEGER,
        min_instances INTEGER,
        max_instances INTEGER,
        weights TEXT,
        updated_at REAL NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {SANDBOX_CHANGES_TABLE} (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        target TEXT NOT NULL,
        change TEXT NOT NULL,
        before TEXT NOT NULL,
        after TEXT NOT NULL
    )""",
)


@dataclass(frozen=True)
class SandboxChange:
    id: int
    at: datetime
    target: str
    change: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]


def _path_of(store: Any) -> str:
    return store_db.file_path(store)


class SandboxExecutor:
    """ActionExecutor over the store; safe to share between threads (a connection per call)."""

    name = "sandbox"

    def __init__(self, store: Any, cfg: HeadroomConfig):
        self.path = _path_of(store)
        self.cfg = cfg

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with store_db.write_transaction(self.path) as conn:
            for statement in _SCHEMA:
                conn.execute(statement)
            yield conn

    # -- initial state from config -------------------------------------------------------------------
    def _initial(self, conn: sqlite3.Connection, target: Target) -> dict[str, Any]:
        configured = next((t for t in self.cfg.target if t.name == target.name), None)
        fleet = next((f for f in self.cfg.fleet if configured and f.name == configured.fleet), None)
        row: dict[str, Any] = {
            "target": target.name,
            "kind": target.kind,
            "region": target.region,
            "fleet": fleet.name if fleet else "",
            "desired": None,
            "min_instances": None,
            "max_instances": None,
            "weights": None,
        }
        if target.kind == "route53_weighted":
            row["weights"] = {r.code: float(r.routing_weight) for r in self.cfg.region}
        elif target.kind == "route53_failover":
            primary, secondary = target.params.get("primary"), target.params.get("secondary")
            if not primary or not secondary:
                raise SourceError(
                    self.name, f"target {target.name} needs params primary and secondary (regions)"
                )
            row["weights"] = {primary: 1.0, secondary: 0.0}
        else:
            lo = fleet.min_instances if fleet else (configured.min_instances if configured else 1)
            hi = fleet.max_instances if fleet else (configured.max_instances if configured else 10)
            desired = self._latest_instances(conn, target.region)
            row["min_instances"], row["max_instances"] = lo, hi
            row["desired"] = min(max(desired if desired is not None else lo, lo), hi)
        return row

    @staticmethod
    def _latest_instances(conn: sqlite3.Connection, region: str) -> int | None:
        """The newest simulated instance count of the demo world, so the sandbox starts where the charts end."""
        value = latest_metric_value(conn, "instances", region)
        return None if value is None else round(value)

    def _row(self, conn: sqlite3.Connection, target: Target) -> dict[str, Any]:
        found = conn.execute(
            f"SELECT target, kind, region, fleet, desired, min_instances, max_instances, weights "
            f"FROM {SANDBOX_TARGETS_TABLE} WHERE target = ?",
            [target.name],
        ).fetchone()
        if found is None:
            row = self._initial(conn, target)
            conn.execute(
                f"INSERT INTO {SANDBOX_TARGETS_TABLE} (target, kind, region, fleet, desired, min_instances, "
                "max_instances, weights, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    row["target"],
                    row["kind"],
                    row["region"],
                    row["fleet"],
                    row["desired"],
                    row["min_instances"],
                    row["max_instances"],
                    json.dumps(row["weights"]) if row["weights"] is not None else None,
                    datetime.now(UTC).timestamp(),
                ],
            )
            return row
        keys = ("target", "kind", "region", "fleet", "desired", "min_instances", "max_instances", "weights")
        row = dict(zip(keys, found, strict=True))
        row["weights"] = json.loads(row["weights"]) if row["weights"] else None
        if row["kind"] != target.kind:
            raise SourceError(
                self.name, f"target {target.name} was simulated as {row['kind']}, not {target.kind}"
            )
        return row

    @staticmethod
    def _state(row: Mapping[str, Any]) -> TargetState:
        kind = row["kind"]
        raw = {"simulated": True, "fleet": row["fleet"], "region": row["region"]}
        if kind in ("route53_weighted", "route53_failover"):
            return TargetState(weights=dict(row["weights"]), raw=raw)
        if kind == "ecs_service":  # like ECS: a desired count, no min/max of its own
            return TargetState(desired=row["desired"], raw=raw)
        return TargetState(
            desired=row["desired"],
            min_instances=row["min_instances"],
            max_instances=row["max_instances"],
            raw=raw,
        )

    # -- ActionExecutor ------------------------------------------------------------------------------
    def current(self, target: Target) -> TargetState:
        with self._tx() as conn:
            return self._state(self._row(conn, target))

    def apply(self, target: Target, change: Change) -> TargetState:
        with self._tx() as conn:
            row = self._row(conn, target)
            before = self._state(row)
            new = dict(row)
            if target.kind in ("route53_weighted", "route53_failover"):
                if change.weights is None:
                    raise SourceError(self.name, f"{target.name} routes traffic: only weights can change")
                unknown = sorted(set(change.weights) - set(row["weights"]))
                if unknown:
                    raise SourceError(self.name, f"{target.name} has no record for {', '.join(unknown)}")
                new["weights"] = {**row["weights"], **{k: float(v) for k, v in change.weights.items()}}
            else:
                self._apply_scaling(target, change, row, new)
            conn.execute(
                f"UPDATE {SANDBOX_TARGETS_TABLE} SET desired = ?, min_instances = ?, max_instances = ?, weights = ?, "
                "updated_at = ? WHERE target = ?",
                [
                    new["desired"],
                    new["min_instances"],
                    new["max_instances"],
                    json.dumps(new["weights"]) if new["weights"] is not None else None,
                    datetime.now(UTC).timestamp(),
                    target.name,
                ],
            )
            after = self._state(new)
            conn.execute(
                f"INSERT INTO {SANDBOX_CHANGES_TABLE} (at, target, change, before, after) VALUES (?, ?, ?, ?, ?)",
                [
                    datetime.now(UTC).timestamp(),
                    target.name,
                    json.dumps({k: v for k, v in vars(change).items() if v is not None}),
                    json.dumps(_plain(before)),
                    json.dumps(_plain(after)),
                ],
            )
        # read back through the normal path, as the AWS executor does
        return self.current(target)

    def _apply_scaling(
        self, target: Target, change: Change, row: Mapping[str, Any], new: dict[str, Any]
    ) -> None:
        if change.weights is not None:
            raise SourceError(self.name, f"{target.name} is a {target.kind}: weights do not apply")
        if target.kind == "ecs_service" and (
            change.min_instances is not None or change.max_instances is not None
        ):
            raise SourceError(
                self.name, "an ECS service has no min/max of its own (use Application Auto Scaling)"
            )
        lo = change.min_instances if change.min_instances is not None else row["min_instances"]
        hi = change.max_instances if change.max_instances is not None else row["max_instances"]
        if lo is not None and hi is not None and lo > hi:
            raise SourceError(self.name, f"min {lo} is larger than max {hi}")
        desired = change.desired if change.desired is not None else row["desired"]
        if target.kind == "autoscaling_group" and change.desired is not None and not lo <= desired <= hi:
            # what EC2 Auto Scaling answers (ValidationError) for a desired count outside the bounds
            raise SourceError(self.name, f"desired capacity {desired} must be between min {lo} and max {hi}")
        if target.kind == "app_autoscaling" and change.desired is not None:
            raise SourceError(self.name, "Application Auto Scaling sets min/max, not a desired count")
        if desired is not None and desired < 0:
            raise SourceError(self.name, "desired count cannot be negative")
        if target.kind in ("autoscaling_group", "app_autoscaling") and desired is not None:
            desired = min(max(desired, lo), hi)  # the scaler moves the fleet into the new bounds
        new["desired"], new["min_instances"], new["max_instances"] = desired, lo, hi


def _plain(state: TargetState) -> dict[str, Any]:
    return {k: v for k, v in vars(state).items() if v is not None and k != "raw"}


def sandbox_targets(store: Any) -> list[dict[str, Any]]:
    """Every simulated target as it is now (for dashboards): target, kind, region, fleet, desired, min,
    max, weights, updated_at (UTC datetime)."""
    path = _path_of(store)
    with store_db.read_connection(path) as conn:
        if not store_db.has_table(conn, SANDBOX_TARGETS_TABLE):
            return []
        rows = conn.execute(
            f"SELECT target, kind, region, fleet, desired, min_instances, max_instances, weights, updated_at "
            f"FROM {SANDBOX_TARGETS_TABLE} ORDER BY target"
        ).fetchall()
    keys = (
        "target",
        "kind",
        "region",
        "fleet",
        "desired",
        "min_instances",
        "max_instances",
        "weights",
        "updated_at",
    )
    out = []
    for r in rows:
        d = dict(zip(keys, r, strict=True))
        d["weights"] = json.loads(d["weights"]) if d["weights"] else None
        d["updated_at"] = datetime.fromtimestamp(d["updated_at"], UTC)
        out.append(d)
    return out


def sandbox_changes(store: Any, target: str | None = None) -> list[SandboxChange]:
    """Every change the sandbox applied, oldest first (the 'outside system' log the tests count)."""
    path = _path_of(store)
    with store_db.read_connection(path) as conn:
        if not store_db.has_table(conn, SANDBOX_CHANGES_TABLE):
            return []
        sql = f"SELECT id, at, target, change, before, after FROM {SANDBOX_CHANGES_TABLE}"
        params: list[Any] = []
        if target:
            sql += " WHERE target = ?"
            params.append(target)
        rows = conn.execute(sql + " ORDER BY id", params).fetchall()
    return [
        SandboxChange(
            r[0],
            datetime.fromtimestamp(r[1], UTC),
            r[2],
            json.loads(r[3]),
            json.loads(r[4]),
            json.loads(r[5]),
        )
        for r in rows
    ]
