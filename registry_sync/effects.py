"""The effects: what the other parts do when the register changes a child's situation.

They reach attendance and followup only through their services: a child who died,
emigrated, moved out or turned 6 has everything stopped; a death annulled plans the
programme again. Run inside the batch's transaction, after its rows are written.
"""

from __future__ import annotations

from attendance.cancellations import child_cancel_future
from attendance.plan import child_plan
from followup.letters.making import letters_stop_for_child
from followup.closing import case_close_for_child
from attendance.cancellations import child_cancel_future
from attendance.plan import child_plan
from followup.letters.making import letters_stop_for_child
from followup.closing import case_close_for_child
from helsestasjon.models import Child
from registry_sync.comparison import Effect


def effect_plan(child: Child) -> None:
    child_plan(child=child)


def effect_stop(child: Child, reason: str) -> None:
    """Stop everything for the child now: future appointments (and with them
    their SMS reminders), letters that have not gone out, and any open case."""
    child_cancel_future(child=child, reason=reason, register_cause=reason)
    letters_stop_for_child(child=child)
    case_close_for_child(child=child, reason=reason)


def effects_run(effects: list[Effect]) -> None:
    """Run the batch's effects in order, each on the child's row as just written."""
    for effect in effects:
        child = Child.objects.get(pk=effect.child_id)
        if effect.action == "stop":
            effect_stop(child, effect.reason)
        elif effect.action == "plan":
            effect_plan(child)
        else:
            raise ValueError(f"Unknown register effect {effect.action!r}")
