import pytest
from django.core.exceptions import ValidationError

from helsestasjon.national_id import make_synthetic, validate

PUBLIC_VECTORS = {
    "30108299939": True,  # 2032 rule
    "30908299902": True,  # synthetic, 2032 rule
    "20036914700": True,
    "03851598730": True,  # synthetic
    "20036914712": False,
    "29020073150": True,  # leap day
    "29020105729": False,  # 29 February in a non-leap year
    "55102499947": True,  # D-number, 2032 rule
    "41819077906": True,  # synthetic D-number, 2032 rule
    "41819077302": True,  # synthetic D-number
}


@pytest.mark.parametrize("number,valid", PUBLIC_VECTORS.items())
def test_public_vectors_from_the_register_documentation(number, valid):
    if valid:
        assert validate(number, allow_synthetic=True) == number
    else:
        with pytest.raises(ValidationError):
            validate(number, allow_synthetic=True)


@pytest.mark.parametrize(
    "number,code,words",
    [
        ("", "required", "mangler"),
        ("1234567890", "length", "11 sifre"),
        ("123456789012", "length", "11 sifre"),
        ("2003691470a", "not_digits", "sifre"),
        ("20036914712", "check_digit", "Kontrollsifrene"),
        ("29020105729", "date", "finnes ikke"),
        ("32016914700", "date", "finnes ikke"),
        ("03851598730", "synthetic", "Syntetiske"),
        ("80036914700", "fh_number", "FH-nummer"),
        ("20436914700", "h_number", "H-nummer"),
    ],
)
def test_bad_numbers_get_a_norwegian_message_naming_the_problem(number, code, words):
    allow = code != "synthetic"
    with pytest.raises(ValidationError) as excinfo:
        validate(number, allow_synthetic=allow)
    assert excinfo.value.code == code
    assert words in excinfo.value.messages[0]


def test_synthetic_numbers_are_refused_unless_allowed():
    with pytest.raises(ValidationError):
        validate("03851598730", allow_synthetic=False)
    assert validate("03851598730", allow_synthetic=True) == "03851598730"


def test_spaces_and_dots_between_groups_are_normalised():
    assert validate("200369 147 00", allow_synthetic=False) == "20036914700"


def test_made_synthetic_numbers_validate():
    number = make_synthetic(15, 1, 25, 124)
    assert number is not None
    assert validate(number, allow_synthetic=True) == number
