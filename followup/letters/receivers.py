"""The letters' receiver of ``helsestasjon.protection.address_protection_changed`` (connected in
FollowupConfig.ready). Thin: the service decides, inside the sender's transaction."""

from __future__ import annotations

from django.dispatch import receiver

from helsestasjon.protection import address_protection_changed


@receiver(address_protection_changed, dispatch_uid="followup.letters.follow_protection")
def letters_on_protection_changed(sender, *, guardian_ids=(), child_ids=(), register_person_ids=(), **kwargs) -> None:
    from followup.letters.follow_protection import letters_follow_protection_change

    letters_follow_protection_change(guardian_ids=guardian_ids, child_ids=child_ids, register_person_ids=register_person_ids)
