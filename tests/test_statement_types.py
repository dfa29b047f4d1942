"""Every statement type is declared once (``registry.statements.SPECS``), and every layer that keys a
table by type covers exactly the declared ones: adding a type fails here until it has its rule, its
feed words and its page sentence."""

from __future__ import annotations

from feeds import entries
from registry import rules, statements


def test_the_declared_types_are_the_schema_table() -> None:
    assert tuple(statements.SPECS) == statements.STATEMENT_TYPES
    assert set(statements.SIGNERS) == set(statements.STATEMENT_TYPES)
    assert statements.ABOUT_AN_ORGANIZATION <= set(statements.STATEMENT_TYPES)


def test_every_type_has_a_rule() -> None:
    assert set(rules._HANDLERS) == set(statements.STATEMENT_TYPES)


def test_every_type_has_feed_words() -> None:
    assert set(entries._WORDS) == set(statements.STATEMENT_TYPES)
