"""Property-based tests: any input gives a normalised number or a clear error, never a crash."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
from django.core.exceptions import ValidationError

from helsestasjon.national_id import K1_WEIGHTS, K2_WEIGHTS, make_synthetic, validate

MESSAGE_WORDS = ("Fødselsnummer", "fødselsnummer", "sifre", "Kontrollsifrene", "Datoen", "Syntetiske", "FH-nummer", "H-nummer")


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=40), st.text(alphabet="0123456789 .-", max_size=20), st.text(min_size=5000, max_size=6000)))
def test_any_text_is_either_valid_or_a_norwegian_error(text):
    try:
        result = validate(text, allow_synthetic=True)
    except ValidationError as error:
        assert any(word in error.messages[0] for word in MESSAGE_WORDS), error.messages
    else:
        assert len(result) == 11 and result.isdigit()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_accepted_numbers_satisfy_the_check_digit_rules(number):
    try:
        validate(number, allow_synthetic=True)
    except ValidationError:
        return
    digits = [int(c) for c in number]
    assert (sum(w * d for w, d in zip(K1_WEIGHTS, digits[:9])) + digits[9]) % 11 in (0, 1, 2, 3)
    assert (sum(w * d for w, d in zip(K2_WEIGHTS, digits[:10])) + digits[10]) % 11 == 0


@settings(max_examples=300, deadline=None)
@given(
    day=st.integers(1, 28), month=st.integers(1, 12), year2=st.integers(0, 99), individual=st.integers(0, 999),
    d_number=st.booleans(),
)
def test_generated_synthetic_numbers_are_accepted_only_when_allowed(day, month, year2, individual, d_number):
    number = make_synthetic(day, month, year2, individual, d_number=d_number)
    if number is None:
        return
    assert validate(number, allow_synthetic=True) == number
    try:
        validate(number, allow_synthetic=False)
    except ValidationError as error:
        assert error.code == "synthetic"
    else:
        raise AssertionError("a synthetic number was accepted with synthetic numbers off")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=11, max_size=11), st.integers(0, 10), st.integers(0, 9))
def test_changing_one_digit_of_a_valid_number_is_caught_or_still_consistent(number, position, replacement):
    try:
        validate(number, allow_synthetic=True)
    except ValidationError:
        return
    changed = number[:position] + str(replacement) + number[position + 1 :]
    if changed == number:
        return
    try:
        validate(changed, allow_synthetic=True)
    except ValidationError:
        return
    # A single changed digit can only pass if the 2032 rule's wider k1 range allows it and k2 still holds.
    digits = [int(c) for c in changed]
    assert (sum(w * d for w, d in zip(K2_WEIGHTS, digits[:10])) + digits[10]) % 11 == 0
