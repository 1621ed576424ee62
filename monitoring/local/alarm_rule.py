"""CloudWatch's AlarmRule language for composite alarms: parsing and evaluation over child alarm states.

``ALARM(name)``, ``OK(name)``, ``INSUFFICIENT_DATA(name)`` (names quoted or bare), ``TRUE``, ``FALSE``, ``NOT``,
``AND``, ``OR`` and parentheses; NOT binds tighter than AND, AND tighter than OR.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from monitoring.local.errors import AlarmError

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"

_TOKEN = re.compile(r"\s*(?:(?P<paren>[()])|(?P<word>[A-Z_]+)\b|(?P<other>\S))")
_NAME = re.compile(r'\s*(?:"(?P<quoted>[^"]+)"|(?P<bare>[^"()]*[^"()\s][^"()]*))\s*\)')
_FUNCTIONS = {"ALARM": ALARM, "OK": OK, "INSUFFICIENT_DATA": INSUFFICIENT_DATA}


class _RuleParser:
    """Recursive descent over AlarmRule: OR < AND < NOT < functions, TRUE, FALSE and parentheses."""

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def fail(self, expected: str) -> ValueError:
        rest = self.text[self.pos :]
        at = self.pos + len(rest) - len(rest.lstrip())
        found = repr(rest.strip()[:20]) if rest.strip() else "the end of the rule"
        return ValueError(f"AlarmRule {self.text!r}: expected {expected} at position {at}, found {found}")

    def peek(self) -> str:
        match = _TOKEN.match(self.text, self.pos)
        return (match.group("paren") or match.group("word") or match.group("other")) if match else ""

    def take(self) -> str:
        token = self.peek()
        match = _TOKEN.match(self.text, self.pos)
        self.pos = match.end() if match else len(self.text)
        return token

    def parse(self) -> tuple:
        tree = self.disjunction()
        if self.pos < len(self.text.rstrip()):
            raise self.fail("AND, OR or the end of the rule")
        return tree

    def disjunction(self) -> tuple:
        tree = self.conjunction()
        while self.peek() == "OR":
            self.take()
            tree = ("or", tree, self.conjunction())
        return tree

    def conjunction(self) -> tuple:
        tree = self.negation()
        while self.peek() == "AND":
            self.take()
            tree = ("and", tree, self.negation())
        return tree

    def negation(self) -> tuple:
        if self.peek() == "NOT":
            self.take()
            return ("not", self.negation())
        return self.atom()

    def atom(self) -> tuple:
        start = self.pos
        token = self.take()
        if token == "(":
            tree = self.disjunction()
            if self.peek() != ")":
                raise self.fail("')'")
            self.take()
            return tree
        if token in ("TRUE", "FALSE"):
            return ("const", token == "TRUE")
        if token in _FUNCTIONS:
            if self.peek() != "(":
                raise self.fail(f"'(' after {token}")
            self.take()
            match = _NAME.match(self.text, self.pos)
            if not match:
                raise self.fail(f"an alarm name, bare or in double quotes, then ')' after {token}(")
            self.pos = match.end()
            return ("state", _FUNCTIONS[token], (match.group("quoted") or match.group("bare")).strip())
        self.pos = start
        raise self.fail("ALARM(name), OK(name), INSUFFICIENT_DATA(name), TRUE, FALSE, NOT or '('")


def parse_rule(text: str) -> tuple:
    """Parse an AlarmRule into a small tree; errors name the position and what was expected."""
    if not isinstance(text, str) or not text.strip():
        raise AlarmError(f"AlarmRule: expected a non-empty expression, got {text!r}")
    return _RuleParser(text).parse()


def rule_children(tree: tuple) -> list[str]:
    """Alarm names a rule refers to, in order of appearance, without repeats."""
    if tree[0] == "state":
        return [tree[2]]
    names: list[str] = []
    for child in tree[1:]:
        if isinstance(child, tuple):
            names += [n for n in rule_children(child) if n not in names]
    return names


def evaluate_rule(tree: tuple, states: Mapping[str, str]) -> bool:
    """Truth of a parsed rule given each child alarm's state value."""
    kind = tree[0]
    if kind == "const":
        return tree[1]
    if kind == "state":
        if tree[2] not in states:
            raise AlarmError(f"AlarmRule refers to alarm {tree[2]!r}, which is not defined")
        return states[tree[2]] == tree[1]
    if kind == "not":
        return not evaluate_rule(tree[1], states)
    left = evaluate_rule(tree[1], states)
    return (left and evaluate_rule(tree[2], states)) if kind == "and" else (left or evaluate_rule(tree[2], states))


def atom_true(tree: tuple, name: str, value: str) -> bool:
    """Whether some ALARM/OK/INSUFFICIENT_DATA(name) atom of the rule holds for the child's state."""
    if tree[0] == "state":
        return tree[2] == name and tree[1] == value
    return any(atom_true(child, name, value) for child in tree[1:] if isinstance(child, tuple))
