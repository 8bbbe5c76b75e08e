"""Linear inequality constraints between parameters, parsed without ``eval``.

``"T_max + 0.1*t_hold <= 1100"`` becomes ``{T_max: 1, t_hold: 0.1} · x <= 1100``
through a tokenizer and a small recursive-descent grammar (numbers, names,
``+ - * /``, parentheses, one ``<=``/``>=``).  Names are whole tokens, so
``x1`` and ``x10`` never collide; products of two parameters are refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from datarial.errors import ConstraintError

if TYPE_CHECKING:  # pragma: no cover
    from datarial.space import Parameter


@dataclass(frozen=True)
class LinearConstraint:
    """``sum(coefficients[name] * x[name]) <= rhs`` in the parameters' own units."""

    expression: str
    coefficients: Mapping[str, float]
    rhs: float

    def slack(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """``rhs - lhs`` for arrays of values (≥ 0 where satisfied)."""
        lhs = sum(c * np.asarray(columns[n], dtype=float) for n, c in self.coefficients.items())
        return self.rhs - lhs

    def satisfied(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        scale = max(1.0, abs(self.rhs), *(abs(c) for c in self.coefficients.values()))
        return self.slack(columns) >= -1e-9 * scale


_TOKEN_RE = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|<|>|[-+*/()]))"
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            bad = text[pos:].strip()[:1] or text[pos]
            raise ConstraintError(f"constraint '{text}': unexpected character '{bad}' at position {pos + 1}")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


class _LinearParser:
    """Recursive-descent parser for linear expressions; no ``eval`` anywhere.

    An expression evaluates to ``(coefficients, constant)``; multiplying two
    non-constant terms is refused (the constraint would not be linear).
    """

    def __init__(self, text: str, tokens: list[tuple[str, str]]) -> None:
        self.text, self.tokens, self.i = text, tokens, 0

    def error(self, msg: str) -> ConstraintError:
        return ConstraintError(f"constraint '{self.text}': {msg}")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise self.error("expression ends too early")
        self.i += 1
        return tok

    def expr(self) -> tuple[dict[str, float], float]:
        coef, const = self.term()
        while (tok := self.peek()) and tok[1] in "+-" and tok[0] == "op":
            self.take()
            c2, k2 = self.term()
            sign = 1.0 if tok[1] == "+" else -1.0
            for n, c in c2.items():
                coef[n] = coef.get(n, 0.0) + sign * c
            const += sign * k2
        return coef, const

    def term(self) -> tuple[dict[str, float], float]:
        coef, const = self.factor()
        while (tok := self.peek()) and tok[0] == "op" and tok[1] in "*/":
            self.take()
            c2, k2 = self.factor()
            if tok[1] == "*":
                if coef and c2:
                    raise self.error("product of two parameters is not linear")
                if c2:
                    coef, const, c2, k2 = c2, k2, coef, const
                coef = {n: c * k2 for n, c in coef.items()}
                const *= k2
            else:
                if c2:
                    raise self.error("division by a parameter is not linear")
                if k2 == 0:
                    raise self.error("division by zero")
                coef = {n: c / k2 for n, c in coef.items()}
                const /= k2
        return coef, const

    def factor(self) -> tuple[dict[str, float], float]:
        kind, val = self.take()
        if kind == "num":
            return {}, float(val)
        if kind == "name":
            return {val: 1.0}, 0.0
        if val == "-":
            coef, const = self.factor()
            return {n: -c for n, c in coef.items()}, -const
        if val == "+":
            return self.factor()
        if val == "(":
            out = self.expr()
            if self.peek() is None or self.take()[1] != ")":
                raise self.error("missing ')'")
            return out
        raise self.error(f"unexpected '{val}'")


def parse_constraint(text: str, parameters: Sequence[Parameter] | None = None) -> LinearConstraint:
    """Parse ``"T_max + 0.1*t_hold <= 1100"`` into a :class:`LinearConstraint`.

    Accepted: numbers, parameter names, ``+ - * /``, parentheses, and one of
    ``<=``, ``>=`` (``<``/``>`` are read as non-strict).  Names are matched as
    whole tokens, so ``x1`` and ``x10`` never collide.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConstraintError(f"constraint {text!r}: expected a text such as 'a + 2*b <= 10'")
    tokens = _tokenize(text)
    comparisons = [i for i, (k, v) in enumerate(tokens) if k == "op" and v in ("<=", ">=", "<", ">", "==")]
    if len(comparisons) != 1:
        raise ConstraintError(
            f"constraint '{text}': expected exactly one comparison ('<=' or '>='), found {len(comparisons)}"
        )
    split = comparisons[0]
    op = tokens[split][1]
    if op == "==":
        raise ConstraintError(f"constraint '{text}': equality constraints are not supported; use two inequalities")
    sides = []
    for part in (tokens[:split], tokens[split + 1 :]):
        if not part:
            raise ConstraintError(f"constraint '{text}': one side of '{op}' is empty")
        p = _LinearParser(text, part)
        sides.append(p.expr())
        if p.peek() is not None:
            raise p.error(f"unexpected '{p.peek()[1]}'")
    (lc, lk), (rc, rk) = sides
    coef = dict(lc)
    for n, c in rc.items():
        coef[n] = coef.get(n, 0.0) - c
    rhs = rk - lk
    if op in (">=", ">"):
        coef = {n: -c for n, c in coef.items()}
        rhs = -rhs
    coef = {n: c for n, c in coef.items() if c != 0.0}
    if not coef:
        raise ConstraintError(f"constraint '{text}': contains no parameter")
    if parameters is not None:
        by_name = {p.name: p for p in parameters}
        for n in coef:
            if n not in by_name:
                raise ConstraintError(
                    f"constraint '{text}': unknown parameter '{n}' (known: {', '.join(by_name)})"
                )
            if by_name[n].kind == "categorical":
                raise ConstraintError(f"constraint '{text}': '{n}' is categorical and cannot appear in a linear constraint")
    return LinearConstraint(expression=text.strip(), coefficients=coef, rhs=rhs)
