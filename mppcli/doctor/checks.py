"""What a doctor probe reads and returns: a leaf, so the probes (`local`, `remote`) and the runner in
`mppcli.doctor` all import it without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from mppcli.paths import Paths

Status = Literal["ok", "warn", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    """One line of the report: a status, a one-line summary, details for --json, and what to do."""

    name: str
    status: Status
    summary: str
    data: Mapping[str, object] = field(default_factory=dict)
    hint: str | None = None

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"status": self.status, "summary": self.summary}
        if self.hint:
            body["hint"] = self.hint
        return {**body, **self.data}


@dataclass(frozen=True)
class DoctorInput:
    """Everything doctor reads from its caller (the clock too, so tests can pin it)."""

    paths: Paths
    environ: Mapping[str, str]
    rpc_flag: str | None
    timeout: float
    now: float


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def healthy(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    def get(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)
