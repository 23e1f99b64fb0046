"""SMS texts: time, place and how to change the time. Never health information
(no reason, no consultation content, no "ikke møtt"), Norwegian first, then the
guardian's language."""

from __future__ import annotations

from django.utils import timezone

from attendance.models import Place

# Each text gets date, time, place and phone. One line per language.
REMINDER = {
    "nb": "Påminnelse: time {date} kl. {time}, {place}. Endre timen: ring {phone}.",
    "nn": "Påminning: time {date} kl. {time}, {place}. Endre timen: ring {phone}.",
    "en": "Reminder: appointment {date} at {time}, {place}. To change it, call {phone}.",
    "pl": "Przypomnienie: wizyta {date} o godz. {time}, {place}. Zmiana terminu: tel. {phone}.",
    "uk": "Нагадування: запис {date} о {time}, {place}. Щоб змінити час, телефонуйте {phone}.",
    "ar": "تذكير: موعد {date} الساعة {time}، {place}. لتغيير الموعد اتصلوا على {phone}.",
    "so": "Xusuusin: ballan {date} saacadda {time}, {place}. Si aad u beddeshaan, wac {phone}.",
}
NEW_TIME = {
    "nb": "Dere har fått ny time {date} kl. {time}, {place}. Endre timen: ring {phone}.",
    "nn": "De har fått ny time {date} kl. {time}, {place}. Endre timen: ring {phone}.",
    "en": "You have a new appointment {date} at {time}, {place}. To change it, call {phone}.",
    "pl": "Nowy termin wizyty: {date} o godz. {time}, {place}. Zmiana terminu: tel. {phone}.",
    "uk": "Ваш новий запис: {date} о {time}, {place}. Щоб змінити час, телефонуйте {phone}.",
    "ar": "لديكم موعد جديد {date} الساعة {time}، {place}. لتغيير الموعد اتصلوا على {phone}.",
    "so": "Ballan cusub: {date} saacadda {time}, {place}. Si aad u beddeshaan, wac {phone}.",
}
# The station cancelled a booked time because the child moved to another station's
# district. The new station is not named (its own invitation does that).
CANCELLED_MOVED = {
    "nb": "Timen {date} kl. {time}, {place} er avlyst fordi barnet nå hører til en annen helsestasjon. "
          "Dere får ny time derfra. Spørsmål: ring {phone}.",
    "nn": "Timen {date} kl. {time}, {place} er avlyst fordi barnet no høyrer til ein annan helsestasjon. "
          "De får ny time derifrå. Spørsmål: ring {phone}.",
    "en": "The appointment {date} at {time}, {place} is cancelled because your child now belongs to another "
          "health centre. You will get a new appointment from there. Questions: call {phone}.",
    "pl": "Wizyta {date} o godz. {time}, {place} została odwołana, ponieważ dziecko należy teraz do innej "
          "przychodni (helsestasjon). Nowy termin otrzymacie stamtąd. Pytania: tel. {phone}.",
    "uk": "Запис {date} о {time}, {place} скасовано, бо дитина тепер належить до іншої станції здоров'я "
          "(helsestasjon). Новий запис ви отримаєте звідти. Питання: телефонуйте {phone}.",
    "ar": "تم إلغاء الموعد {date} الساعة {time}، {place} لأن طفلكم يتبع الآن مركزًا صحيًا آخر. "
          "ستحصلون على موعد جديد من هناك. للاستفسار اتصلوا على {phone}.",
    "so": "Ballanta {date} saacadda {time}, {place} waa la baajiyay sababtoo ah ilmuhu hadda wuxuu ka tirsan "
          "yahay xarun caafimaad oo kale. Ballan cusub ayaad halkaas ka heli doontaan. Su'aalo: wac {phone}.",
}
# The same for a child with a confidential or strictly confidential address: no reason
# at all, because "another station" can point to a district. It goes only to guardians who
# share the child's protection (followup/recipients.py), and even they are told no more.
CANCELLED_NEUTRAL = {
    "nb": "Timen {date} kl. {time}, {place} er avlyst. Dere får en ny time. Spørsmål: ring {phone}.",
    "nn": "Timen {date} kl. {time}, {place} er avlyst. De får ein ny time. Spørsmål: ring {phone}.",
    "en": "The appointment {date} at {time}, {place} is cancelled. You will get a new appointment. Questions: call {phone}.",
    "pl": "Wizyta {date} o godz. {time}, {place} została odwołana. Otrzymacie nowy termin. Pytania: tel. {phone}.",
    "uk": "Запис {date} о {time}, {place} скасовано. Ви отримаєте новий запис. Питання: телефонуйте {phone}.",
    "ar": "تم إلغاء الموعد {date} الساعة {time}، {place}. ستحصلون على موعد جديد. للاستفسار اتصلوا على {phone}.",
    "so": "Ballanta {date} saacadda {time}, {place} waa la baajiyay. Ballan cusub ayaad heli doontaan. Su'aalo: wac {phone}.",
}
HOME_VISIT = {
    "nb": "hjemmebesøk", "nn": "heimebesøk", "en": "home visit", "pl": "wizyta domowa",
    "uk": "візит додому", "ar": "زيارة منزلية", "so": "booqasho guri",
}
PURPOSES = {"reminder": REMINDER, "new_time": NEW_TIME, "cancelled_moved": CANCELLED_MOVED, "cancelled_neutral": CANCELLED_NEUTRAL}


def sms_text(*, appointment, language: str, purpose: str = "reminder") -> str:
    """The message for one appointment: Norwegian (the station's form) first, then the guardian's language."""
    texts = PURPOSES[purpose]
    station = appointment.station
    base = station.letter_language if station.letter_language in ("nb", "nn") else "nb"
    when = timezone.localtime(appointment.starts_at)
    phone = station.phone or "helsestasjonen"

    def one(lang: str) -> str:
        if appointment.place == Place.HOME:
            place = HOME_VISIT[lang]
        else:
            place = ", ".join(p for p in [station.name, station.street_address] if p)
        return texts[lang].format(date=f"{when:%d.%m.%Y}", time=f"{when:%H:%M}", place=place, phone=phone)

    lines = [one(base)]
    if language in texts and language not in ("nb", "nn"):
        lines.append(one(language))
    return "\n".join(lines)
