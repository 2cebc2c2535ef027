"""Composite alarm rules: a recursive-descent parser and evaluator, no database.

Grammar (CloudWatch's ``AlarmRule``; keywords are upper-case, ``NOT`` binds tighter than ``AND``,
which binds tighter than ``OR``)::

    rule    := or
    or      := and ("OR" and)*
    and     := unary ("AND" unary)*
    unary   := "NOT" unary | primary
    primary := "(" rule ")" | "TRUE" | "FALSE" | STATE "(" alarm ")"
    STATE   := "ALARM" | "OK" | "INSUFFICIENT_DATA"
    alarm   := a name or ARN, bare (up to the closing parenthesis) or in double quotes
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MAX_RULE_LENGTH = 10_240
MAX_ALARMS = 100
STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
KEYWORDS = ("AND", "OR", "NOT", "TRUE", "FALSE", *STATES)


class RuleError(ValueError):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.position = position


@dataclass(frozen=True)
class StateOf:
    state: str
    alarm: str


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class Not:
    operand: Expr


@dataclass(frozen=True)
class And:
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Expr, ...]


Expr = StateOf | Const | Not | And | Or


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek_word(self) -> str:
        self.skip()
        end = self.pos
        while end < len(self.text) and (self.text[end].isalnum() or self.text[end] == "_"):
            end += 1
        return self.text[self.pos : end]

    def take_word(self, word: str) -> bool:
        if self.peek_word() == word:
            self.pos += len(word)
            return True
        return False

    def expect(self, char: str) -> None:
        self.skip()
        if self.pos >= len(self.text) or self.text[self.pos] != char:
            found = repr(self.text[self.pos]) if self.pos < len(self.text) else "the end"
            raise RuleError(f"expected {char!r}, found {found}", self.pos)
        self.pos += 1

    def rule(self) -> Expr:
        operands = [self.conjunction()]
        while self.take_word("OR"):
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def conjunction(self) -> Expr:
        operands = [self.unary()]
        while self.take_word("AND"):
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self) -> Expr:
        if self.take_word("NOT"):
            return Not(self.unary())
        return self.primary()

    def primary(self) -> Expr:
        self.skip()
        if self.pos >= len(self.text):
            raise RuleError("the rule ends where an expression should start", self.pos)
        if self.text[self.pos] == "(":
            self.pos += 1
            inner = self.rule()
            self.expect(")")
            return inner
        start = self.pos
        word = self.peek_word()
        if word in ("TRUE", "FALSE"):
            self.pos += len(word)
            return Const(word == "TRUE")
        if word in STATES:
            self.pos += len(word)
            self.expect("(")
            return StateOf(word, self.alarm_name())
        shown = word or self.text[self.pos]
        raise RuleError(
            f"unexpected {shown!r}: expected ALARM(...), OK(...), INSUFFICIENT_DATA(...), "
            "TRUE, FALSE, NOT or '('",
            start,
        )

    def alarm_name(self) -> str:
        self.skip()
        start = self.pos
        if self.pos < len(self.text) and self.text[self.pos] == '"':
            end = self.text.find('"', self.pos + 1)
            if end < 0:
                raise RuleError("unterminated quoted alarm name", start)
            name = self.text[self.pos + 1 : end]
            self.pos = end + 1
        else:
            end = self.pos
            while end < len(self.text) and self.text[end] not in "()":
                end += 1
            name = self.text[self.pos : end].strip()
            self.pos = end
        if not name:
            raise RuleError("missing alarm name", start)
        self.expect(")")
        return name


def parse(text: str) -> Expr:
    """The rule's syntax tree; raises :class:`RuleError` naming the position of the problem."""
    if len(text) > MAX_RULE_LENGTH:
        raise RuleError(f"the rule is longer than {MAX_RULE_LENGTH} characters", MAX_RULE_LENGTH)
    parser = _Parser(text)
    expr = parser.rule()
    parser.skip()
    if parser.pos != len(text):
        raise RuleError(f"unexpected {text[parser.pos :][:20]!r} after a complete rule", parser.pos)
    if len(alarm_names(expr)) > MAX_ALARMS:
        raise RuleError(f"a rule may name at most {MAX_ALARMS} alarms", 0)
    return expr


def alarm_names(expr: Expr) -> set[str]:
    if isinstance(expr, StateOf):
        return {expr.alarm}
    if isinstance(expr, Const):
        return set()
    if isinstance(expr, Not):
        return alarm_names(expr.operand)
    return set().union(*(alarm_names(e) for e in expr.operands))


def rename(expr: Expr, names: Mapping[str, str]) -> Expr:
    """The same rule with alarm references (ARNs, say) mapped to alarm names."""
    if isinstance(expr, StateOf):
        return StateOf(expr.state, names.get(expr.alarm, expr.alarm))
    if isinstance(expr, Const):
        return expr
    if isinstance(expr, Not):
        return Not(rename(expr.operand, names))
    operands = tuple(rename(e, names) for e in expr.operands)
    return And(operands) if isinstance(expr, And) else Or(operands)


def evaluate(expr: Expr, states: Mapping[str, str]) -> bool:
    """TRUE puts the composite in ALARM. An alarm missing from ``states`` matches no state."""
    if isinstance(expr, StateOf):
        return states.get(expr.alarm) == expr.state
    if isinstance(expr, Const):
        return expr.value
    if isinstance(expr, Not):
        return not evaluate(expr.operand, states)
    if isinstance(expr, And):
        return all(evaluate(e, states) for e in expr.operands)
    return any(evaluate(e, states) for e in expr.operands)
