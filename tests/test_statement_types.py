"""Every statement type is declared once (``registry.statements.SPECS``), and every layer that keys a
table by type covers exactly the declared ones: adding a type fails here until it has its rule, its
sentence and its feed's title."""

from __future__ import annotations

from registry import rules, statements, wording


def test_the_declared_types_are_the_schema_table() -> None:
    assert tuple(statements.SPECS) == statements.STATEMENT_TYPES
    assert set(statements.SIGNERS) == set(statements.STATEMENT_TYPES)
    assert statements.ABOUT_AN_ORGANIZATION <= set(statements.STATEMENT_TYPES)


def test_every_type_has_a_rule() -> None:
    assert set(rules._HANDLERS) == set(statements.STATEMENT_TYPES)


def test_every_type_has_its_sentence_and_its_feed_title() -> None:
    # The one wording (pages, feeds, command line): no type falls through to the generic sentence.
    names = wording.Names({}, {})
    for type_ in statements.STATEMENT_TYPES:
        assert wording.claim({"type": type_}, names) != f"A {type_} record", type_
    assert set(wording.TYPE_FEEDS) == set(statements.STATEMENT_TYPES)
