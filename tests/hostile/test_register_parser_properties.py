"""The register document parser meets random and mangled documents.

Whatever the register sends, parse_person returns a record or raises
RegisterProtocolError: never another exception that would crash a sync run.
"""

from __future__ import annotations

import copy
import json
import uuid

from hypothesis import HealthCheck, given, settings, strategies as st

from registry_sync.person_document import PersonRecord, parse_person
from registry_sync.register_errors import RegisterProtocolError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)

VALID = {
    "id": str(uuid.UUID(int=7)),
    "sequenceNumber": "12",
    "norwegianIdentificationNumber": [
        {"identificationNumber": "03851598730", "identificationNumberType": "NationalIdentityNumber", "isValid": True}
    ],
    "status": [{"status": "Resident", "isValid": True}],
    "name": [{"givenName": "Ola", "familyName": "Nordmann", "isValid": True}],
    "birth": [{"birthDate": "2024-05-03T00:00:00", "isValid": True}],
    "residentialAddress": [
        {
            "isValid": True,
            "addressConfidentiality": "Unclassified",
            "streetAddress": {
                "municipalityNumber": "4601",
                "addressName": "Storgata",
                "addressNumber": {"houseNumber": "1"},
                "city": {"postalCode": "5003", "cityName": "Bergen"},
            },
        }
    ],
    "parentalResponsibility": [],
    "familyRelation": [],
    "death": None,
}


def _parse(doc):
    try:
        return parse_person(doc)
    except RegisterProtocolError:
        return None


def test_the_valid_document_parses():
    record = parse_person(copy.deepcopy(VALID))
    assert isinstance(record, PersonRecord)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_random_json_never_crashes_the_parser(value):
    _parse(value)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(VALID)), json_values)
def test_a_field_replaced_by_anything_is_parsed_or_refused(field, value):
    doc = copy.deepcopy(VALID)
    doc[field] = value
    _parse(doc)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(json.dumps(VALID)) - 1))
def test_truncated_documents_are_refused_before_parsing(cut):
    text = json.dumps(VALID)[:cut]
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return  # The client turns this into RegisterProtocolError before parsing.
    _parse(doc)
