"""Capacity rules: what the roles' sizes must add up to, checked before anything is generated.

The rules are data, next to the values they are about: `capacity_rules` in group_vars/all.yml,
each a name, a description and a `check` in a small expression language (no eval, no Jinja):

    check   := sum '<=' sum
    sum     := product ('+' product)*
    product := factor (('*' | '/') factor)*
    factor  := NUMBER | VARIABLE | 'peak.' FIELD | 'hosts(' GROUP ')' | 'cpus(' GROUP ')'
               | '(' sum ')'

    VARIABLE       a variable the hosts get (role default, group_vars/, environments.yml),
                   with its effective value in the environment (parity.Layers), a number >= 0
    peak.FIELD     the environment's declared peak: requests_per_second, headroom, latency_ms;
                   a rule that names one applies only to environments that declare a peak
    hosts(GROUP)   how many hosts the environment has in GROUP
    cpus(GROUP)    the fewest CPUs the pre-flight check guarantees a host of GROUP
                   (`capacity` in environments.yml; 1 when it asks for none)

A rule may say what a variable set to `auto` counts as (`auto: {nginx_worker_processes:
cpus(web)}`). Every environment is checked twice: with its effective values (a), and with every
variable the parity contract lets differ at the end of its range the contract admits for that
environment (min/max/one_of, at_most/at_least another environment's value) that is worst for
the rule (c): what the contract lets differ must not be able to break a rule. Only +, * and /
of numbers >= 0 exist, so the worst case is found by interval arithmetic, not by search.

A failure is one InputError naming every number, where it comes from (file:line) and what they
add up to. Nothing here writes anything.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from provisioner.errors import InputError, Location
from provisioner.source import yamlfile
from provisioner.source.model import Environment, LoadedSource, Peak
from provisioner.source.parity import Layers, Value

RULES_VAR = "capacity_rules"
RULE_KEYS = {"name", "description", "check", "auto"}
PEAK_FIELDS = ("requests_per_second", "headroom", "latency_ms")
FUNCTIONS = ("hosts", "cpus")
_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")
_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<func>(?:hosts|cpus)\(\s*[a-z][a-z0-9_]*\s*\))"
    r"|(?P<name>[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?)|(?P<op><=|[-+*/()<>=]))"
)


# The expression tree --------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Name:
    name: str  # a variable, or peak.FIELD


@dataclass(frozen=True)
class Call:
    func: str  # hosts | cpus
    group: str


@dataclass(frozen=True)
class Op:
    op: str  # + * /
    left: Node
    right: Node


Node = Num | Name | Call | Op


class RuleSyntaxError(ValueError):
    pass


def parse(text: str) -> tuple[Node, Node]:
    """`left <= right` of a check, or RuleSyntaxError saying what is wrong."""
    tokens = _tokens(text)
    parser = _Parser(tokens)
    left = parser.sum()
    if parser.peek() != "<=":
        raise RuleSyntaxError(f"expected '<=' after {_show(left)}, found {parser.shown()}")
    parser.take()
    right = parser.sum()
    if parser.peek() is not None:
        raise RuleSyntaxError(f"unexpected {parser.shown()} after {_show(right)}")
    return left, right


def _tokens(text: str) -> list[str]:
    found: list[str] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise RuleSyntaxError(f"cannot read {text[position:].strip()[:20]!r}")
        token = match.group(match.lastgroup or "")
        if match.lastgroup == "op" and token in ("-", "<", ">", "="):
            raise RuleSyntaxError(f"{token!r} is not an operator here: only +, *, / and one <=")
        found.append(token.replace(" ", ""))
        position = match.end()
    return found


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def shown(self) -> str:
        token = self.peek()
        return "the end" if token is None else repr(token)

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise RuleSyntaxError("the check ends too early")
        self.at += 1
        return token

    def sum(self) -> Node:
        node = self.product()
        while self.peek() == "+":
            self.take()
            node = Op("+", node, self.product())
        return node

    def product(self) -> Node:
        node = self.factor()
        while self.peek() in ("*", "/"):
            node = Op(self.take(), node, self.factor())
        return node

    def factor(self) -> Node:
        part = self.take()
        if part == "(":
            node = self.sum()
            if self.take() != ")":
                raise RuleSyntaxError("a '(' is not closed")
            return node
        if part[0].isdigit():
            return Num(float(part))
        if part.endswith(")"):
            func, group = part[:-1].split("(")
            return Call(func, group)
        if part[0].isalpha() or part[0] == "_":
            return Name(part)
        raise RuleSyntaxError(f"expected a number, a variable or '(', found {part!r}")


def _show(node: Node) -> str:
    if isinstance(node, Num):
        return _number(node.value)
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Call):
        return f"{node.func}({node.group})"
    return f"{_show(node.left)} {node.op} {_show(node.right)}"


def names(node: Node) -> list[str]:
    if isinstance(node, Name):
        return [node.name]
    if isinstance(node, Op):
        return names(node.left) + names(node.right)
    return []


def calls(node: Node) -> list[Call]:
    if isinstance(node, Call):
        return [node]
    if isinstance(node, Op):
        return calls(node.left) + calls(node.right)
    return []


# The rules, read from group_vars --------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: str
    left: Node
    right: Node
    auto: dict[str, Node]
    where: Location  # the check's line
    keys: str  # capacity_rules[0].check

    def applies_to(self, env: Environment) -> bool:
        every = [self.left, self.right, *self.auto.values()]
        uses_peak = any(n.startswith("peak.") for node in every for n in names(node))
        return env.peak is not None or not uses_peak


def load_rules(layers: Layers) -> list[Rule]:
    """The rules from group_vars/, validated: their shape, their syntax, and every variable they
    name known to the roles, group_vars/ or the source (a typo is an error, not a zero)."""
    shared = layers.shared.get(RULES_VAR)
    if shared is None:
        return []
    reader = _RuleReader(yamlfile.load(shared.where.file), _known_names(layers))
    if not isinstance(shared.value, list):
        raise reader.fail("a list of rules, each with a name and a check")
    rules: list[Rule] = []
    for index, spec in enumerate(shared.value):
        rule = reader.rule(index, spec)
        if any(other.name == rule.name for other in rules):
            raise reader.fail(f"another rule is named {rule.name!r}", index, "name")
        rules.append(rule)
    return rules


class _RuleReader:
    def __init__(self, loaded: yamlfile.Loaded, known: set[str]) -> None:
        self.loaded = loaded
        self.known = known

    def fail(self, message: str, *keys: str | int) -> InputError:
        path = (RULES_VAR, *keys)
        return InputError(message, self.loaded.where(path), yamlfile.format_keys(path))

    def rule(self, index: int, spec: Any) -> Rule:
        self.shape(index, spec)
        try:
            left, right = parse(spec["check"])
        except RuleSyntaxError as exc:
            raise self.fail(f"{exc}", index, "check") from None
        auto_spec = spec.get("auto", {})
        if not isinstance(auto_spec, dict):
            raise self.fail("a mapping of variable: expression", index, "auto")
        auto: dict[str, Node] = {}
        for var, text in auto_spec.items():
            if var not in names(left) + names(right):
                raise self.fail(f"{var!r} is not in the check", index, "auto", var)
            try:
                auto[var] = _single(str(text))
            except RuleSyntaxError as exc:
                raise self.fail(f"{exc}", index, "auto", var) from None
        for node in (left, right, *auto.values()):
            for name in names(node):
                self.known_name(name, index)
        keys = (RULES_VAR, index, "check")
        return Rule(
            name=spec["name"],
            description=spec.get("description", ""),
            check=" ".join(spec["check"].split()),
            left=left,
            right=right,
            auto=auto,
            where=self.loaded.where(keys),
            keys=yamlfile.format_keys(keys),
        )

    def shape(self, index: int, spec: Any) -> None:
        if not isinstance(spec, dict):
            raise self.fail("a rule is a mapping with a name and a check", index)
        for key in spec:
            if key not in RULE_KEYS:
                raise self.fail(
                    f"unknown key (a rule has {', '.join(sorted(RULE_KEYS))})", index, key
                )
        for key in ("name", "check"):
            if not isinstance(spec.get(key), str) or not spec[key].strip():
                raise self.fail(
                    f"a rule needs a {key} (text)", index, *([key] if key in spec else [])
                )
        if not _NAME.match(spec["name"]):
            raise self.fail(f"{spec['name']!r} is not a valid name", index, "name")
        if not isinstance(spec.get("description", ""), str):
            raise self.fail("a description is text", index, "description")

    def known_name(self, name: str, index: int) -> None:
        if name.startswith("peak."):
            if name.removeprefix("peak.") not in PEAK_FIELDS:
                raise self.fail(
                    f"unknown {name!r}; a peak has {', '.join(PEAK_FIELDS)}", index, "check"
                )
        elif name not in self.known:
            raise self.fail(
                f"unknown variable {name!r}: no role default, group_vars/ value, "
                "per-environment value or parity rule has that name",
                index,
                "check",
            )


def _single(text: str) -> Node:
    parser = _Parser(_tokens(text))
    node = parser.sum()
    if parser.peek() is not None:
        raise RuleSyntaxError(f"unexpected {parser.shown()} after {_show(node)}")
    return node


def _known_names(layers: Layers) -> set[str]:
    known = {name for defaults in layers.defaults.values() for name in defaults}
    known |= set(layers.shared)
    known |= set(layers.loaded.source.parity)
    for env in layers.loaded.source.environments.values():
        for values in env.vars.values():
            known |= set(values)
    return known


# Evaluation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Amount:
    """A value as an interval [lo, hi] (lo == hi: the value itself), and how it reads."""

    lo: float
    hi: float
    text: str  # the numbers and where they come from
    plus: bool = False  # a sum: parenthesised inside a product
    compound: bool = False  # more than one value: worth saying what it adds up to

    def total(self, worst: bool, high: bool) -> str:
        if not self.compound:
            return self.text
        value = _number(self.hi if high else self.lo)
        return f"{self.text} = {('up to ' if high else 'as little as ') if worst else ''}{value}"


@dataclass(frozen=True)
class Leaf:
    label: str
    value: float
    where: Location | None
    keys: tuple[str | int, ...] | None  # its key path in the source, when it is set there
    lo: float
    hi: float
    bound: str = ""  # what the contract admits, when lo != hi


class _Environment:
    """One rule in one environment: its leaves resolved, once."""

    def __init__(self, rule: Rule, env_name: str, layers: Layers) -> None:
        self.rule = rule
        self.env_name = env_name
        self.layers = layers
        self.loaded = layers.loaded
        self.env = self.loaded.source.environments[env_name]
        self.leaves: list[Leaf] = []

    def fail(self, message: str) -> InputError:
        return InputError(
            f"capacity rule {self.rule.name}: {self.env_name}: {message}",
            self.rule.where,
            self.rule.keys,
        )

    def amount(self, node: Node, worst: bool) -> Amount:
        if isinstance(node, Num):
            return Amount(node.value, node.value, _number(node.value))
        if isinstance(node, Op):
            left, right = self.amount(node.left, worst), self.amount(node.right, worst)
            if node.op == "+":
                return Amount(
                    left.lo + right.lo,
                    left.hi + right.hi,
                    f"{left.text} + {right.text}",
                    True,
                    True,
                )
            lt, rt = (f"({a.text})" if a.plus else a.text for a in (left, right))
            if node.op == "*":
                return Amount(
                    left.lo * right.lo, _times(left.hi, right.hi), f"{lt} x {rt}", compound=True
                )
            return Amount(
                _divide(left.lo, right.hi),
                _divide(left.hi, right.lo),
                f"{lt} / {rt}",
                compound=True,
            )
        if isinstance(node, Name) and node.name in self.rule.auto and self._is_auto(node.name):
            inner = self.amount(self.rule.auto[node.name], worst)
            text = f"{node.name} auto = {inner.text}"
            return Amount(inner.lo, inner.hi, text, inner.plus, inner.compound)
        return self.leaf_amount(node, worst)

    def leaf_amount(self, node: Name | Call, worst: bool) -> Amount:
        leaf = self.leaf(node)
        self.leaves.append(leaf)
        where = f" ({leaf.where})" if leaf.where else ""
        if worst and leaf.lo != leaf.hi:
            return Amount(leaf.lo, leaf.hi, f"{leaf.label} {leaf.bound}")
        return Amount(leaf.value, leaf.value, f"{leaf.label} {_number(leaf.value)}{where}")

    def _is_auto(self, name: str) -> bool:
        found = self.variable(name)
        return found is not None and found[0].value == "auto"

    def leaf(self, node: Name | Call) -> Leaf:
        if isinstance(node, Call):
            return self.counted(node)
        if node.name.startswith("peak."):
            return self.peak(node.name)
        return self.variable_leaf(node.name)

    def counted(self, node: Call) -> Leaf:
        env, loaded = self.env, self.loaded
        label = f"{node.func}({node.group})"
        if node.group not in loaded.source.groups:
            raise self.fail(f"{label}: {node.group!r} is not a group of {loaded.path.name}")
        members = env.hosts_in(node.group)
        if node.func == "hosts":
            keys: tuple[str | int, ...] = ("environments", self.env_name, "hosts")
            count = float(len(members))
            return Leaf(label, count, loaded.loaded.where(keys), keys, count, count)
        cpus = float(min(env.minimums(host).get("cpus", 1) for host in members))
        keys = ("environments", self.env_name, "capacity")
        where = loaded.loaded.where(keys) if env.capacity else None
        return Leaf(label, cpus, where, keys if env.capacity else None, cpus, cpus)

    def peak(self, name: str) -> Leaf:
        field = name.removeprefix("peak.")
        peak: Peak | None = self.env.peak
        if peak is None:  # rules naming the peak apply only where there is one
            raise self.fail(f"{name}: {self.env_name} declares no peak")
        keys = ("environments", self.env_name, "peak", field)
        number = float(getattr(peak, field))
        return Leaf(name, number, self.loaded.loaded.where(keys), keys, number, number)

    def variable_leaf(self, name: str) -> Leaf:
        found = self.variable(name)
        if found is None:
            raise self.fail(f"{name} is not set for any group of {self.env_name}")
        value, keys = found
        number = value.value
        if isinstance(number, bool) or not isinstance(number, int | float) or number < 0:
            raise InputError(
                f"{name} is {number!r}: capacity rule {self.rule.name} ({self.rule.where}) "
                "needs a number >= 0",
                value.where,
                yamlfile.format_keys(keys) if keys else name,
            )
        lo, hi, bound = self.admitted(name, float(number))
        return Leaf(name, float(number), value.where, keys, lo, hi, bound)

    def variable(self, name: str) -> tuple[Value, tuple[str | int, ...] | None] | None:
        """The variable's effective value in this environment, and its key path in the source
        when it is set there; the same in every group that has it, else an error."""
        found: dict[str, Value] = {}
        for group in sorted(self.loaded.source.groups):
            value = self.layers.effective(self.env_name, group).get(name)
            if value is not None:
                found[group] = value
        if not found:
            return None
        values = list(found.values())
        if any(repr(v.value) != repr(values[0].value) for v in values):
            shown = ", ".join(f"{g}={v.value!r} ({v.where})" for g, v in found.items())
            raise self.fail(f"{name} differs between groups ({shown}): which one is meant?")
        group = next(iter(found))
        for pattern in (group, "all"):
            if name in self.env.vars.get(pattern, {}):
                return values[0], ("environments", self.env_name, "vars", pattern, name)
        return values[0], None

    def admitted(self, name: str, value: float) -> tuple[float, float, str]:
        """The range the parity contract admits for `name` in this environment, and how it
        says so (empty when the contract does not let it differ)."""
        rule = self.loaded.source.parity.get(name)
        if rule is None or rule.type != "int":
            return value, value, ""
        where = self.loaded.loaded.where(("parity", name))
        lo, hi = 0.0, math.inf
        said_lo, said_hi = "no min", "no max"
        if rule.min is not None:
            lo, said_lo = float(rule.min), f"min {rule.min}"
        if rule.max is not None:
            hi, said_hi = float(rule.max), f"max {rule.max}"
        if rule.one_of is not None:
            numbers = [c for c in rule.one_of if isinstance(c, int) and not isinstance(c, bool)]
            if numbers:
                lo, hi = max(lo, min(numbers)), min(hi, max(numbers))
                said_lo = said_hi = f"one_of {rule.one_of}"
        for bound in ("at_most", "at_least"):
            other = getattr(rule, bound)
            if other is None or other == self.env_name:
                continue
            limit = self.layers.effective(other, _group_of(self, name)).get(name)
            if limit is None or isinstance(limit.value, bool) or not isinstance(limit.value, int):
                continue
            said = f"{bound} {other}'s {limit.value} ({limit.where})"
            if bound == "at_most" and limit.value < hi:
                hi, said_hi = float(limit.value), said
            if bound == "at_least" and limit.value > lo:
                lo, said_lo = float(limit.value), said
        lo = max(lo, 0.0)
        return (
            lo,
            hi,
            (
                f"{_number(lo)}..{_number(hi)} admitted by the parity contract "
                f"({where}: {said_lo}, {said_hi})"
            ),
        )


def _group_of(checker: _Environment, name: str) -> str:
    for group in sorted(checker.loaded.source.groups):
        if name in checker.layers.effective(checker.env_name, group):
            return group
    return "all"


def _stretch(leaf: Leaf) -> float:
    """How far the contract lets a value go, as a factor of the value (either way)."""
    up = _divide(leaf.hi, leaf.value)
    down = _divide(leaf.value, leaf.lo)
    return max(up, down)


def _times(a: float, b: float) -> float:
    return 0.0 if a == 0 or b == 0 else a * b  # 0 x unbounded is 0


def _divide(a: float, b: float) -> float:
    if b == 0:
        return 0.0 if a == 0 else math.inf
    return a / b


def _number(value: float) -> str:
    if not math.isfinite(value):
        return "unbounded"
    if value == int(value):
        return str(int(value))
    return f"{value:.6g}"


# The check ------------------------------------------------------------------------------------


def check(loaded: LoadedSource, layers: Layers | None = None) -> None:
    """Every rule in every environment, with its values (a, b) and at the worst its parity
    contract admits (c); the first breach is an InputError."""
    layers = layers or Layers(loaded)
    for rule in load_rules(layers):
        for env_name, env in loaded.source.environments.items():
            if rule.applies_to(env):
                check_rule(rule, env_name, layers)


def check_rule(rule: Rule, env_name: str, layers: Layers) -> None:
    checker = _Environment(rule, env_name, layers)
    left, right = checker.amount(rule.left, False), checker.amount(rule.right, False)
    about = f"{rule.description}: " if rule.description else ""
    if left.hi > right.lo:
        raise _breach(
            checker,
            f"{about}{left.total(False, True)} > {right.total(False, False)}",
            contract=False,
        )
    checker.leaves.clear()
    left, right = checker.amount(rule.left, True), checker.amount(rule.right, True)
    if left.hi > right.lo:
        raise _breach(
            checker,
            f"{about}the parity contract admits values that break it: "
            f"{left.total(True, True)} > {right.total(True, False)}",
            contract=True,
        )


def _breach(checker: _Environment, said: str, contract: bool) -> InputError:
    """Point at what is most likely to be fixed: the contract's bound (c), else a value set
    for this environment in the source, else any value in the source, else the rule."""
    loaded = checker.loaded
    message = (
        f"capacity rule {checker.rule.name} ({checker.rule.where}): {checker.env_name}: {said}"
    )
    ranged = [leaf for leaf in checker.leaves if leaf.lo != leaf.hi]
    if contract and ranged:
        # the contract's rule that stretches its value the most, relative to the value
        stretched = max(ranged, key=_stretch)
        keys = ("parity", stretched.label)
        return InputError(message, loaded.loaded.where(keys), yamlfile.format_keys(keys))
    for prefer_vars in (True, False):
        for leaf in checker.leaves:
            if leaf.keys is not None and (not prefer_vars or "vars" in leaf.keys):
                return InputError(message, leaf.where, yamlfile.format_keys(leaf.keys))
    return InputError(message, checker.rule.where, checker.rule.keys)
