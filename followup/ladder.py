"""The ladder (tiltakstrappen): each municipality's steps, and starting or advancing a case's step.

Public API, used by the sweep, the step actions, the leader's decisions and the letters:

- ``ladder_for_municipality``: the municipality's steps (made from the spec's default on first use);
- ``LadderCache``: ladders by station, read once per pass (``first``, ``after``, ``of_kind``,
  ``leader_step``, ``next_for``);
- ``ladder_build_step`` / ``ladder_start_step`` / ``ladder_advance``: a case's next step;
- ``ladder_settings``: the municipality's rule for unanswered calls.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Max
from django.utils import timezone

from followup.models import DEFAULT_LADDER, Case, CaseStep, LadderSettings, LadderStep, StepKind
from helsestasjon.models import Station
from followup.workdays import add_working_days


def ladder_for_municipality(*, municipality_id: int) -> list[LadderStep]:
    """The municipality's ladder, created from the spec's default on first use."""
    steps = list(LadderStep.objects.filter(municipality_id=municipality_id).order_by("order"))
    if not steps:
        LadderStep.objects.bulk_create(
            [
                LadderStep(
                    municipality_id=municipality_id, order=index, kind=kind, name=kind.label, owner_role=role,
                    deadline_working_days=days,
                )
                for index, (kind, role, days) in enumerate(DEFAULT_LADDER, start=1)
            ],
            ignore_conflicts=True,
        )
        steps = list(LadderStep.objects.filter(municipality_id=municipality_id).order_by("order"))
    return steps


class LadderCache:
    """Ladders by station, read once per sweep or action: make one per pass and hand it on."""

    def __init__(self):
        self._by_municipality: dict[int, list[LadderStep]] = {}
        self._municipality_of: dict[int, int] = {}

    def for_station(self, station_id: int) -> list[LadderStep]:
        if station_id not in self._municipality_of:
            self._municipality_of.update(dict(Station.objects.values_list("id", "municipality_id")))
        municipality_id = self._municipality_of[station_id]
        if municipality_id not in self._by_municipality:
            self._by_municipality[municipality_id] = ladder_for_municipality(municipality_id=municipality_id)
        return self._by_municipality[municipality_id]

    def first(self, station_id: int, special_attention: bool) -> LadderStep:
        if special_attention:
            # A child the station is already concerned about goes straight to the leader.
            return self.leader_step(station_id)
        return self.for_station(station_id)[0]

    def leader_step(self, station_id: int) -> LadderStep:
        """The leader's decision, or the ladder's last step where a ladder has none."""
        return self.of_kind(station_id, StepKind.LEADER_DECISION) or self.for_station(station_id)[-1]

    def after(self, station_id: int, order: int) -> LadderStep | None:
        for step in self.for_station(station_id):
            if step.order > order:
                return step
        return None

    def of_kind(self, station_id: int, kind: str) -> LadderStep | None:
        for step in self.for_station(station_id):
            if step.kind == kind:
                return step
        return None

    def next_for(self, station_id: int, step: CaseStep) -> LadderStep | None:
        """The ladder step after a case's ``step`` on the station's ladder. A step
        begun on another municipality's ladder (the child moved station since)
        carries on after the same kind of step here, not after the same number:
        a case at the phone call goes on to what follows the phone call on the
        new ladder. A kind the new ladder lacks goes by number."""
        order = step.order
        ladder = self.for_station(station_id)
        if step.ladder_step_id is not None and all(rung.pk != step.ladder_step_id for rung in ladder):
            same = self.of_kind(station_id, step.kind)
            if same is not None:
                order = same.order
        return self.after(station_id, order)


def ladder_build_step(*, case: Case, cycle: int, seq: int, ladder_step: LadderStep, now: datetime) -> CaseStep:
    return CaseStep(
        case=case, cycle=cycle, seq=seq, ladder_step=ladder_step, order=ladder_step.order, kind=ladder_step.kind,
        name=ladder_step.name, owner_role=ladder_step.owner_role, started_at=now,
        deadline=add_working_days(timezone.localdate(now), ladder_step.deadline_working_days),
    )


def ladder_start_step(*, case: Case, ladder_step: LadderStep, now: datetime, new_cycle: bool = False) -> CaseStep:
    """Make ``ladder_step`` the case's active step (the caller has ended the previous one)."""
    if new_cycle:
        case.cycle += 1
        seq = 1
    else:
        last = CaseStep.objects.filter(case=case, cycle=case.cycle).aggregate(m=Max("seq"))["m"] or 0
        seq = last + 1
    step = ladder_build_step(case=case, cycle=case.cycle, seq=seq, ladder_step=ladder_step, now=now)
    step.save()
    case.current_step = step
    case.save(update_fields=["cycle", "current_step", "overdue_since"])
    return step


def ladder_advance(*, case: Case, step: CaseStep, now: datetime, ladders: LadderCache | None = None) -> CaseStep:
    """Start the step after ``step`` (ended by the caller); past the last one the case waits at the leader.

    A sweep passes its one LadderCache, so the ladders are read once per pass, not once per case."""
    ladders = ladders or LadderCache()
    following = ladders.next_for(case.station_id, step)
    if following is None:
        # Past the last step only a leader's decision moves the case; wait at the leader.
        following = ladders.leader_step(case.station_id)
    return ladder_start_step(case=case, ladder_step=following, now=now)


def ladder_settings(*, municipality_id: int) -> LadderSettings:
    """The municipality's ladder settings (the defaults until someone changes them in the admin)."""
    settings_row, _ = LadderSettings.objects.get_or_create(municipality_id=municipality_id)
    return settings_row

