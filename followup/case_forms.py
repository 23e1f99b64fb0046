"""The forms of a case's current step as a page shows them.

Each form is built on first use (a list row pays only for the forms it shows), with the case's own
choices (its station's professionals, its guardians, the leader's decisions) and ids unique to the
case, so fifty rows on one list never share an id. When an action fails, the form the user sent
takes the empty one's place: it comes back open, with every choice and text, and each message at
its field (``templates/includes/field.html`` ties it to the field with aria-invalid/aria-describedby).
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy

from followup import forms as case_forms
from followup.models import StepKind

FORMS = {
    "call": case_forms.CallForm, "home_visit": case_forms.HomeVisitForm, "consent": case_forms.ConsentForm,
    "pause": case_forms.PauseForm, "complete": case_forms.EvidenceForm, "skip": case_forms.SkipForm,
    "decision": case_forms.DecisionForm, "gp": case_forms.GpConfirmedForm,
}

# The evidence a step's "Marker som utført" asks for, by the step's kind.
EVIDENCE_LABELS = {
    StepKind.ADDRESS_CHECK: gettext_lazy("Resultat av adressekontrollen"),
    StepKind.HOME_VISIT: gettext_lazy("Hjemmebesøk gjort, eller hvorfor ikke"),
}
EVIDENCE_DEFAULT_LABEL = gettext_lazy("Drøfting og konklusjon")

# A service's message that is about one field is shown at that field; any other stands at the top of
# its form. Keyed by the service's own (translated) message, as the services raise plain messages.
SERVICE_FIELDS = {
    "call": {
        gettext_lazy("Den nye timen må være fram i tid."): "starts_at",
        gettext_lazy("Den nye timen kan ikke være mer enn ett år fram i tid."): "starts_at",
        gettext_lazy("Datoen for å ringe igjen kan ikke være tilbake i tid."): "call_again_on",
        gettext_lazy("Datoen for å ringe igjen kan ikke være mer enn ett år fram i tid."): "call_again_on",
        gettext_lazy("Skriv hvorfor familien takker nei."): "note",
        gettext_lazy("Velg språket det trengs tolk til."): "language",
        gettext_lazy("Velg hvilken foresatt som trenger tolk."): "guardian",
    },
    "home_visit": {
        gettext_lazy("Den nye timen må være fram i tid."): "starts_at",
        gettext_lazy("Den nye timen kan ikke være mer enn ett år fram i tid."): "starts_at",
    },
    "pause": {
        gettext_lazy("Pausen må vare til en dato fram i tid."): "until",
        gettext_lazy("En pause kan vare i høyst to år. Velg en tidligere dato."): "until",
    },
    "decision": {
        gettext_lazy("Velg trinnet saken skal fortsette på."): "continue_step",
        gettext_lazy("En bekymringsmelding må ha dato og referanse."): "concern_report_reference",
    },
}


def add_service_error(name: str, form: forms.Form, exc: ValidationError) -> None:
    """Put a service's refusal on the form: at the field it is about, else at the top of the form."""
    if hasattr(exc, "error_dict"):  # raised with its fields named (the view's own booking checks)
        form.add_error(None, exc)
        return
    fields = SERVICE_FIELDS.get(name, {})
    by_message = {str(message): field for message, field in fields.items()}
    for message in exc.messages:
        field = by_message.get(message)
        form.add_error(field if field in form.fields else None, message)


def _named(users) -> list[tuple[str, str]]:
    return [("", "—")] + [(u.pk, u.get_full_name() or u.username) for u in users]


class CaseForms:
    """The forms of one case, looked up by name in a template: ``case.forms.call.note``."""

    def __init__(self, case, user, *, today, decisions=(), continue_steps=()):
        self._case, self._user, self._today = case, user, today
        self._decisions, self._continue_steps = list(decisions), list(continue_steps)
        self._forms: dict[str, forms.Form] = {}
        # The name of the form that came back with errors ("" when none did).
        self.failed = ""

    def __getitem__(self, name: str) -> forms.Form:
        if name not in self._forms:
            if name not in FORMS:
                raise KeyError(name)
            self._forms[name] = self._dress(name, FORMS[name](initial=self._initial(name)))
        return self._forms[name]

    def sent_back(self, name: str, form: forms.Form) -> None:
        """Show the form the user sent, with its errors, in place of the empty one."""
        self._forms[name] = self._dress(name, form)
        self.failed = name

    def _initial(self, name: str) -> dict:
        case = self._case
        me = self._user.pk if any(p.pk == self._user.pk for p in getattr(case, "professionals", [])) else None
        if name == "call":
            progress = getattr(case, "call_progress", None)
            return {"duration_minutes": 30, "professional": me,
                    "call_again_on": progress.next_attempt if progress and progress.calls else None}
        if name == "home_visit":
            return {"duration_minutes": 60, "professional": me}
        return {}

    def _dress(self, name: str, form: forms.Form) -> forms.Form:
        """The case's ids and choices on a form, bound or not."""
        case = self._case
        form.auto_id = f"{name}-%s-{case.pk}"
        fields = form.fields
        if "professional" in fields:
            professionals = _named(getattr(case, "professionals", []))
            fields["professional"].widget = case_forms.QuickSelect(choices=professionals)
            if "second_professional" in fields:
                fields["second_professional"].widget = case_forms.QuickSelect(choices=professionals)
        if name == "call":
            fields["guardian"].widget = case_forms.QuickSelect(choices=[("", "—")] + [(g.pk, g.list_name) for g in getattr(case, "guardian_list", [])])
            fields["call_again_on"].widget.attrs["min"] = self._today.isoformat()
        elif name == "pause":
            fields["until"].widget.attrs["min"] = self._today.isoformat()
        elif name == "complete":
            step = case.current_step
            fields["evidence"].label = EVIDENCE_LABELS.get(step.kind if step else "", EVIDENCE_DEFAULT_LABEL)
        elif name == "decision":
            fields["decision"].choices = [(c.value, c.label) for c in self._decisions]
            fields["decision"].widget.descriptions = {c.value: c.next for c in self._decisions}
            fields["decision"].widget.description_id = f"decision-next-{case.pk}-%s"
            fields["continue_step"].widget = case_forms.QuickSelect(choices=[("", "—")] + self._continue_steps)
        return form
