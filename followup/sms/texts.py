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
HOME_VISIT = {
    "nb": "hjemmebesøk", "nn": "heimebesøk", "en": "home visit", "pl": "wizyta domowa",
    "uk": "візит додому", "ar": "زيارة منزلية", "so": "booqasho guri",
}
PURPOSES = {"reminder": REMINDER, "new_time": NEW_TIME}


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
