"""Tests for registry.canonical: RFC 8785 known answers, round trips and strict parsing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.canonical import MAX_DEPTH, dumps, loads, loads_canonical
from registry.errors import CanonicalError

MAX_INT = 2**53 - 1
FAST = settings(max_examples=200, deadline=None)

scalars = st.none() | st.booleans() | st.integers(-MAX_INT, MAX_INT) | st.text()


def _nested(depth: int) -> st.SearchStrategy[Any]:
    strategy: st.SearchStrategy[Any] = scalars
    for _ in range(depth):
        strategy = (
            scalars
            | st.lists(strategy, max_size=4)
            | st.dictionaries(st.text(max_size=8), strategy, max_size=4)
        )
    return strategy


json_values = _nested(4)


def _nest(depth: int) -> bytes:
    """The integer 0 inside ``depth`` arrays: the 0 sits at depth ``depth``."""
    return b"[" * depth + b"0" + b"]" * depth


# --- RFC 8785 known answers -----------------------------------------------------


def test_keys_sort_by_utf16_code_units_not_code_points() -> None:
    # U+1F600 is D83D DE00 in UTF-16, so it sorts before U+FB01 (though its code point is larger).
    assert dumps({"\uFB01": 1, "\U0001F600": 2}) == '{"\U0001F600":2,"\uFB01":1}'.encode()


def test_rfc8785_property_sorting_example() -> None:
    # RFC 8785 section 3.2.3.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001F600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    order = json.loads(dumps(value), object_pairs_hook=lambda pairs: [key for key, _ in pairs])
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001F600", "\ufb33"]


def test_rfc8785_string_example_without_numbers() -> None:
    # RFC 8785 section 3.2.2 (its "numbers" member left out: the registry refuses floats).
    text = (
        b'{\n  "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",\n'
        b'  "literals": [null, true, false]\n}'
    )
    expected = '{"literals":[null,true,false],"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'.encode()
    assert dumps(loads(text)) == expected


def test_control_characters_are_escaped_with_short_forms_where_they_exist() -> None:
    value = "\u0000\u0001\b\t\n\u000b\f\r\u001f\"\\/\u007f"
    assert dumps(value) == b'"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\\"\\\\/\x7f"'


@pytest.mark.parametrize("ch", [chr(c) for c in range(0x20)])
def test_every_c0_control_is_escaped(ch: str) -> None:
    out = dumps(ch)
    assert out.startswith(b'"\\') and all(0x20 <= b < 0x7F for b in out)
    assert loads(out) == ch


def test_unicode_passes_through_as_utf8() -> None:
    text = "é 日本 \U0001F600 \u2028 \u202e"
    assert dumps(text) == ('"' + text + '"').encode("utf-8")
    assert dumps({"ключ": "значение"}) == '{"ключ":"значение"}'.encode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, b"0"),
        (-1, b"-1"),
        (42, b"42"),
        (MAX_INT, b"9007199254740991"),
        (-MAX_INT, b"-9007199254740991"),
        (True, b"true"),
        (False, b"false"),
        (None, b"null"),
        ([], b"[]"),
        ({}, b"{}"),
        ((1, 2), b"[1,2]"),
        ({"b": [1, {"d": None, "c": True}], "a": ""}, b'{"a":"","b":[1,{"c":true,"d":null}]}'),
    ],
)
def test_known_answers(value: Any, expected: bytes) -> None:
    assert dumps(value) == expected


# --- dumps refuses what it cannot represent exactly ------------------------------


@pytest.mark.parametrize(
    "value",
    [
        1.0,
        0.5,
        float("nan"),
        float("inf"),
        2**53,
        -(2**53),
        10**30,
        {1: "non-string key"},
        {"a": {(1, 2): 3}},
        b"bytes",
        {1, 2},
        object(),
        "\ud800",
        "a\udc00b",
        {"\ud800": 1},
        [{"k": ["\udfff"]}],
    ],
    ids=repr,
)
def test_dumps_refuses(value: Any) -> None:
    with pytest.raises(CanonicalError):
        dumps(value)


def test_dumps_depth_limit() -> None:
    value: Any = 0
    for _ in range(MAX_DEPTH):
        value = [value]
    assert dumps(value) == _nest(MAX_DEPTH)
    with pytest.raises(CanonicalError, match="deeply"):
        dumps([value])


# --- round trips -----------------------------------------------------------------


@FAST
@given(json_values)
def test_round_trip(value: Any) -> None:
    data = dumps(value)
    assert loads(data) == value
    assert loads_canonical(data) == value
    assert dumps(loads(data)) == data


@FAST
@given(json_values)
def test_reformatted_input_canonicalizes_to_the_same_bytes(value: Any) -> None:
    pretty = json.dumps(value, indent=2, ensure_ascii=True).encode("ascii")
    assert dumps(loads(pretty)) == dumps(value)


# --- loads_canonical: only the canonical spelling ---------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": 1}',
        b'{ "a":1}',
        b'{"a":1} ',
        b'{"a":1}\n',
        b' {"a":1}',
        b"[1, 2]",
        b'{"b":1,"a":2}',
        b'{"\xef\xac\x81":1,"\xf0\x9f\x98\x80":2}',
        b'"\\u0041"',
        b'"\\/"',
        b'"\\u00e9"',
        b'"\\ud83d\\ude00"',
        b'"\\u000a"',
        b'"\\u001F"',
        b'"\\u007f"',
        b"-0",
    ],
)
def test_loads_canonical_refuses_other_spellings(data: bytes) -> None:
    loads(data)  # valid JSON...
    with pytest.raises(CanonicalError, match="canonical"):
        loads_canonical(data)  # ...but not in canonical form


# --- loads: strict JSON --------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"1.0",
        b"1e3",
        b"1E+2",
        b"-0.0",
        b'{"a":[0.5]}',
        b"NaN",
        b"Infinity",
        b"-Infinity",
        b"[NaN]",
        b'{"a":1,"a":1}',
        b'{"a":1,"a":2}',
        b'{"x":{"a":1,"b":2,"a":3}}',
        b'[{"k":null,"k":null}]',
    ],
)
def test_loads_refuses_floats_constants_and_duplicate_keys(data: bytes) -> None:
    with pytest.raises(CanonicalError):
        loads(data)


@pytest.mark.parametrize(
    "data",
    [
        b'"\xff"',
        b'"\xc0\xaf"',  # overlong "/"
        b'"\xed\xa0\x80"',  # an encoded surrogate
        b'"\xe6\x97"',  # truncated sequence
        b'"\xf4\x90\x80\x80"',  # beyond U+10FFFF
        b"\xef\xbb\xbf{}",  # a byte order mark
        '"é"'.encode("latin-1"),
        '"x"'.encode("utf-16"),
    ],
)
def test_loads_refuses_invalid_utf8(data: bytes) -> None:
    with pytest.raises(CanonicalError):
        loads(data)


@pytest.mark.parametrize(
    "data",
    [
        b'"\\ud800"',
        b'"\\udc00"',
        b'"\\udfff"',
        b'"a\\ud800b"',
        b'"\\ude00\\ud83d"',  # a pair in the wrong order
        b'"\\ud83d\\u0041"',  # high surrogate, then not a low one
        b'"\\ud83d"',
        b'["\\ud800"]',
        b'{"\\ud800":1}',
        b'{"a":{"\\udfff":1}}',
        b'{"a":"\\udc00"}',
        b'[{"k":["x","\\ud800"]}]',
    ],
)
def test_loads_refuses_lone_surrogates_anywhere(data: bytes) -> None:
    with pytest.raises(CanonicalError, match="surrogate"):
        loads(data)
    with pytest.raises(CanonicalError):
        loads_canonical(data)


def test_a_paired_surrogate_escape_is_one_character() -> None:
    assert loads(b'"\\ud83d\\ude00"') == "\U0001F600"


def test_depth_limit() -> None:
    assert loads(_nest(MAX_DEPTH)) is not None
    assert loads_canonical(_nest(MAX_DEPTH)) is not None
    with pytest.raises(CanonicalError, match="deeply"):
        loads(_nest(MAX_DEPTH + 1))
    with pytest.raises(CanonicalError, match="deeply"):
        loads(b'{"a":' * (MAX_DEPTH + 1) + b"0" + b"}" * (MAX_DEPTH + 1))


def test_very_deep_nesting_is_a_canonical_error_not_a_recursion_error() -> None:
    with pytest.raises(CanonicalError):
        loads(b"[" * 200_000 + b"]" * 200_000)


@pytest.mark.parametrize(
    "data",
    [b"9007199254740992", b"-9007199254740992", b"[18446744073709551616]", b"1" * 5000],
)
def test_loads_refuses_integers_beyond_ijson(data: bytes) -> None:
    with pytest.raises(CanonicalError):
        loads(data)


def test_integer_bounds_are_inclusive() -> None:
    assert loads(b"9007199254740991") == MAX_INT
    assert loads(b"-9007199254740991") == -MAX_INT


@pytest.mark.parametrize("data", [b"", b" ", b"{", b"[1,]", b"{'a':1}", b'{"a"}', b"tru", b"01", b"1 2", b"\x00"])
def test_loads_refuses_non_json(data: bytes) -> None:
    with pytest.raises(CanonicalError):
        loads(data)


# --- arbitrary input: CanonicalError and nothing else ------------------------------------

_TOKENS = [
    "{", "}", "[", "]", ",", ":", '"', " ", "\n", "0", "1", "-", ".", "e", "9007199254740993",
    "true", "null", "NaN", "Infinity", "\\", "\\u", "\\ud800", "\\udc00", "\\ud83d", "\\ude00",
    "\\n", "\\x", "a", "é", "\U0001F600", "\x00", "\x1f",
]  # fmt: skip

json_ish = st.lists(st.sampled_from(_TOKENS), max_size=40).map(lambda parts: "".join(parts).encode("utf-8"))


@st.composite
def mutated_canonical(draw: st.DrawFn) -> bytes:
    data = bytearray(dumps(draw(json_values)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200) | json_ish | mutated_canonical())
def test_arbitrary_bytes_raise_only_canonical_error(data: bytes) -> None:
    try:
        value = loads(data)
    except CanonicalError:
        pass
    else:
        assert loads(dumps(value)) == value
    try:
        value = loads_canonical(data)
    except CanonicalError:
        return
    assert dumps(value) == data


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text(st.characters(exclude_categories=("Cs",))),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(st.characters(exclude_categories=("Cs",)), max_size=6), children, max_size=5),
    max_leaves=30,
)


@given(_JSON)
@settings(max_examples=500)
def test_fast_path_is_byte_identical_to_rfc8785(value: object) -> None:
    # canonical.dumps skips the rfc8785 package when it can; the bytes must not differ, ever.
    import rfc8785

    assert dumps(value) == rfc8785.dumps(value)


def test_astral_keys_take_the_jcs_order() -> None:
    import rfc8785

    value = {"\U0001f600": 1, "\ufb01": 2, "a": 3, "\u00e9": {"\U0001f601": 0, "\uffff": 1}}
    assert dumps(value) == rfc8785.dumps(value)
    assert dumps(value).index("😀".encode()) < dumps(value).index("ﬁ".encode())
