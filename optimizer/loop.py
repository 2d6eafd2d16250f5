"""The collection loop around a day's plan: the case store before and after `optimizer.plan`.

With a store (``plan --store URL``) a day is planned in three steps around the pipeline:

1. the case list: a given file is merged into the store first (`merge_file`:
   `optimizer.store.cases.merge_cases`, reported and idempotent); without one, the plan takes
   the cases of the store's latest import (`stored_case_list`);
2. what the history teaches (`prepare`): every case's history (`optimizer.store.history`)
   gives the case the plan takes (the amount less payments the export does not show yet, the
   last real visit for the cooldown, a promise and whether it is broken, the skill a dispute
   needs) or the reason it is held back today (paid, promise open, address to verify...), and
   after visits nobody was home, today's windows cut into parts with their value factor; the
   pipeline takes these as a `Steering` (`optimizer.planning.build`);
3. the plan written is recorded in the store and published (`record`), so outcomes can be
   recorded against its stops.

The store is opened by the caller; each step is one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import func, select

from optimizer.model import Case, Plan
from optimizer.outputs.pack import RecordLine
from optimizer.planning.build import Reason, Steering
from optimizer.progress import Progress, ensure
from optimizer.store.cases import (
    URGENT_IMPORT,
    MergeReport,
    file_sha256,
    latest_case_list,
    merge_cases,
)
from optimizer.store.db import Store
from optimizer.store.history import (
    Learned,
    OutcomePolicy,
    learn_all,
    load_history,
    money,
    steer_windows,
)
from optimizer.store.outcomes import CODES
from optimizer.store.plans import RecordedPlan, record_plan
from optimizer.store.tables import ImportRecord, OutcomeRecord, PlanRecord, StoredCase

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreDay:
    """The cases a plan with a store takes, and what the store's history says about them.

    ``cases`` are the effective cases, in the order of the case list; ``steering`` the cases
    held back (with the store's reason) and the window parts of those steered; ``learned`` the
    history's answer per case.
    """

    cases: tuple[Case, ...]
    steering: Steering
    learned: Mapping[str, Learned]

    def held_by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for code, _ in self.steering.held.values():
            out[code] = out.get(code, 0) + 1
        return dict(sorted(out.items()))

    @property
    def changed(self) -> tuple[str, ...]:
        """Cases planned with a change the history made (amount, promise, skill, misses)."""
        return tuple(cid for cid, lr in self.learned.items() if lr.planned and lr.notes)


def merge_file(store: Store, path: str | Path, cases: Sequence[Case], *, actor: str,
               close_missing: bool = True, progress: Progress | None = None) -> MergeReport:
    """Merge a read case list (`optimizer.io.inputs.read_cases` of `path`) into the store;
    ``close_missing=False`` for a partial export (the open cases it does not list stay open)."""
    p = Path(path)
    with ensure(progress).step(f"Merging {p.name} into the store"), store.session() as s:
        return merge_cases(s, cases, file_name=p.name, sha256=file_sha256(p), actor=actor,
                           close_missing=close_missing)


@dataclass(frozen=True)
class CaseImport:
    """A case list merged into the store."""

    import_id: int
    file_name: str
    imported_at: datetime


def latest_import(store: Store) -> CaseImport | None:
    """The store's latest case import, None before the first."""
    with store.reading() as s:
        rec = s.scalar(select(ImportRecord).where(ImportRecord.kind == "cases",
                                                  ImportRecord.file_name != URGENT_IMPORT)
                       .order_by(ImportRecord.id.desc()).limit(1))
        return CaseImport(rec.id, rec.file_name, rec.imported_at) if rec is not None else None


def stored_case_list(store: Store) -> tuple[Case, ...]:
    """The cases the latest import listed, as the store holds them now (by case id)."""
    with store.reading() as s:
        return latest_case_list(s)


def steering_of(learned: Mapping[str, Learned], cases: Sequence[Case], plan_date: date,
                policy: OutcomePolicy) -> Steering:
    """The `Steering` of the history's answers: held cases with their reason, and today's
    windows cut into parts (`steer_windows`) for the cases with a factor below 1."""
    held: dict[str, Reason] = {}
    windows = {}
    for case in cases:
        lr = learned[case.case_id]
        if lr.exclusion is not None:
            held[case.case_id] = (lr.exclusion.reason_code, lr.exclusion.reason)
        elif any(f < 1.0 for f in lr.window_factors.values()):
            windows[case.case_id] = steer_windows(lr.case.windows_on(plan_date), plan_date,
                                                  lr.window_factors, policy)
    return Steering(held=held, windows=windows)


def prepare(store: Store, cases: Sequence[Case], plan_date: date, *,
            policy: OutcomePolicy = OutcomePolicy(), progress: Progress | None = None
            ) -> StoreDay:
    """What the store's history says about `cases` (all in the store) for `plan_date`."""
    with ensure(progress).step("Reading the store's history"), store.reading() as s:
        histories = load_history(s, [c.case_id for c in cases])
    learned = learn_all(histories, plan_date, policy)
    # the case list's own row numbers stay, for messages
    effective = tuple(replace(learned[c.case_id].case, row=c.row) for c in cases)
    return StoreDay(effective, steering_of(learned, effective, plan_date, policy), learned)


def record(store: Store, plan: Plan, *, actor: str) -> RecordedPlan:
    """Record the written plan as the next version of its date, and publish it."""
    with store.session() as s:
        return record_plan(s, plan, actor=actor)


def store_counts(store: Store) -> dict[str, int]:
    """What the store holds: open and closed cases, case imports, plans, outcomes."""
    with store.reading() as s:
        status = {st: n for st, n in s.execute(select(StoredCase.status, func.count())
                                               .group_by(StoredCase.status))}
        return {"open": status.get("open", 0), "closed": status.get("closed", 0),
                "imports": s.scalar(select(func.count()).select_from(ImportRecord).where(
                    ImportRecord.kind == "cases")) or 0,
                "plans": s.scalar(select(func.count()).select_from(PlanRecord)) or 0,
                "outcomes": s.scalar(select(func.count()).select_from(OutcomeRecord)) or 0}


def pack_records(store: Store, case_ids: Sequence[str]) -> dict[str, tuple[RecordLine, ...]]:
    """Each case's repayment record for its visit pack: its outcomes (corrections applied),
    the promises they made and the payments, oldest first."""
    with store.reading() as s:
        histories = load_history(s, list(case_ids))
    out: dict[str, tuple[RecordLine, ...]] = {}
    for cid, h in histories.items():
        lines: list[tuple[datetime, RecordLine]] = []
        for o in h.outcomes:
            code = CODES[o.code]
            who = f" ({'+'.join(o.collectors)})" if o.collectors else ""
            what = f"{code.label_zh} / {code.label_en}{who}"
            amount = o.amount if code.kind in ("payment", "promise") else None
            lines.append((o.time, RecordLine(o.time.date(), what, amount)))
        for p in h.promises:
            if p.of_count > 1:
                lines.append((p.made_at, RecordLine(
                    p.due_date, f"分期 {p.seq}/{p.of_count} 到期 / instalment {p.seq} of "
                    f"{p.of_count} due ({money(p.amount)})", p.amount)))
        out[cid] = tuple(line for _, line in sorted(lines, key=lambda t: (t[1].day, t[0])))
    return out
