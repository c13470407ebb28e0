"""A PowerShell-like command-line parser for the sofs cmdlets.

Supported (a deliberate subset of PowerShell's argument-mode grammar, ``about_Parsing``):

- commands ``Verb-Noun`` followed by arguments: ``-Name value``, ``-Switch``, ``-Param:value``
  (``-Drain:$false``), positional values;
- values: bare words (``n1``, ``C:\\ClusterStorage\\Volume1``, ``\\\\srv\\share``), single-quoted strings
  (``''`` escapes a quote), double-quoted strings (backtick escapes ```n`` ```t`` ``` `" ```, ``""``;
  no variable expansion), ``$true`` / ``$false`` / ``$null``, numbers with size suffixes (``2TB``,
  ``512MB`` -> bytes, binary multiples as in PowerShell), comma lists (``n1,n2, n3``);
- pipelines ``Get-ClusterNode n1 | Suspend-ClusterNode -Drain``;
- statements separated by ``;``;
- the property-assignment form ``(Get-Cluster).SameSubnetThreshold = 5``.

The parser is pure: text in, an AST out (:class:`Statement` list). Binding arguments to a cmdlet's
declared parameters happens in :mod:`sofs.management.psbind`. Errors are :class:`ParseError` with a
PowerShell-style message.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


class ParseError(ValueError):
    """The line is not valid in our PowerShell subset; ``str(e)`` is a user-facing message."""


# --- values -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Bare:
    """An unquoted word; the binder decides whether it is a string, a number or a size."""

    text: str


@dataclass(frozen=True, slots=True)
class Quoted:
    """A quoted string (single or double); always a string."""

    text: str


@dataclass(frozen=True, slots=True)
class BoolLit:
    """``$true`` or ``$false``."""

    value: bool


@dataclass(frozen=True, slots=True)
class NullLit:
    """``$null``."""


@dataclass(frozen=True, slots=True)
class ListLit:
    """A comma list ``a,b,c`` (PowerShell's array operator)."""

    items: tuple[Scalar, ...]


Scalar = Bare | Quoted | BoolLit | NullLit
Value = Bare | Quoted | BoolLit | NullLit | ListLit


def value_text(v: Value) -> str:
    """How a value reads back in an error message (PowerShell quotes the argument as typed)."""
    if isinstance(v, (Bare, Quoted)):
        return v.text
    if isinstance(v, BoolLit):
        return "True" if v.value else "False"
    if isinstance(v, NullLit):
        return ""
    return " ".join(value_text(i) for i in v.items)


# --- AST ----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ParamArg:
    """``-Name`` (``value`` None) or ``-Name:value`` (``value`` set, bound even for switches)."""

    name: str
    value: Value | None = None


@dataclass(frozen=True, slots=True)
class PosArg:
    """A value that is not introduced by a parameter name."""

    value: Value


Arg = ParamArg | PosArg


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: tuple[Arg, ...]


@dataclass(frozen=True, slots=True)
class Pipeline:
    commands: tuple[Command, ...]


@dataclass(frozen=True, slots=True)
class Assignment:
    """``(<pipeline>).Property = value``."""

    source: Pipeline
    prop: str
    value: Value


Statement = Pipeline | Assignment


# --- lexer --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # WORD STRING VAR PARAM COMMA PIPE SEMI LPAREN RPAREN MEMBER EQUALS
    text: str
    pos: int
    glued: bool = False  # PARAM: written as -Name: (value follows); MEMBER: no space before


_SPECIAL = set(",|;()")
_PARAM_RE = re.compile(r"-([A-Za-z_?][A-Za-z0-9_]*)(:?)")
_MEMBER_RE = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)")


def tokenize(line: str) -> list[Token]:
    """Split ``line`` into tokens ([about_Parsing] argument mode)."""
    toks: list[Token] = []
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c.isspace():
            i += 1
            continue
        if c in _SPECIAL:
            kind = {",": "COMMA", "|": "PIPE", ";": "SEMI", "(": "LPAREN", ")": "RPAREN"}[c]
            toks.append(Token(kind, c, i))
            i += 1
            continue
        if c == "'":
            text, i = _single_quoted(line, i)
            toks.append(Token("STRING", text, i))
            continue
        if c == '"':
            text, i = _double_quoted(line, i)
            toks.append(Token("STRING", text, i))
            continue
        if c == "." and toks and toks[-1].kind == "RPAREN" and toks[-1].pos == i - 1:
            m = _MEMBER_RE.match(line, i)
            if not m:
                raise ParseError(f"Missing property name after '.' at position {i + 1}.")
            toks.append(Token("MEMBER", m.group(1), i))
            i = m.end()
            continue
        if c == "-":
            m = _PARAM_RE.match(line, i)
            if m and (m.end() >= n or m.group(2) or line[m.end()].isspace() or line[m.end()] in _SPECIAL):
                toks.append(Token("PARAM", m.group(1), i, glued=bool(m.group(2))))
                i = m.end()
                continue
        if c == "$":
            m = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)").match(line, i)
            if m:
                toks.append(Token("VAR", m.group(1), i))
                i = m.end()
                continue
        j = i
        while j < n and not line[j].isspace() and line[j] not in _SPECIAL:
            j += 1
        word = line[i:j]
        toks.append(Token("EQUALS" if word == "=" else "WORD", word, i))
        i = j
    return toks


def _single_quoted(line: str, i: int) -> tuple[str, int]:
    out: list[str] = []
    j = i + 1
    while j < len(line):
        if line[j] == "'":
            if j + 1 < len(line) and line[j + 1] == "'":
                out.append("'")
                j += 2
                continue
            return "".join(out), j + 1
        out.append(line[j])
        j += 1
    raise ParseError(f"The string is missing the terminator: '. (position {i + 1})")


_BACKTICK = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "a": "\a", "b": "\b", "e": "\x1b"}


def _double_quoted(line: str, i: int) -> tuple[str, int]:
    out: list[str] = []
    j = i + 1
    while j < len(line):
        c = line[j]
        if c == "`" and j + 1 < len(line):
            out.append(_BACKTICK.get(line[j + 1], line[j + 1]))
            j += 2
            continue
        if c == '"':
            if j + 1 < len(line) and line[j + 1] == '"':
                out.append('"')
                j += 2
                continue
            return "".join(out), j + 1
        out.append(c)
        j += 1
    raise ParseError(f'The string is missing the terminator: ". (position {i + 1})')


# --- parser -------------------------------------------------------------------------------------

class _Parser:
    def __init__(self, toks: list[Token]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self, k: int = 0) -> Token | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def take(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def statements(self) -> list[Statement]:
        out: list[Statement] = []
        while self.peek() is not None:
            t = self.peek()
            assert t is not None
            if t.kind == "SEMI":
                self.take()
                continue
            out.append(self.statement())
            t = self.peek()
            if t is not None and t.kind != "SEMI":
                raise ParseError(f"Unexpected token '{t.text}' in expression or statement.")
        return out

    def statement(self) -> Statement:
        t = self.peek()
        assert t is not None
        if t.kind == "LPAREN":
            self.take()
            source = self.pipeline()
            close = self.peek()
            if close is None or close.kind != "RPAREN":
                raise ParseError("Missing closing ')' in expression.")
            self.take()
            member = self.peek()
            if member is None or member.kind != "MEMBER":
                raise ParseError("Only the form (Get-X).Property = value is supported after '('.")
            self.take()
            eq = self.peek()
            if eq is None or eq.kind != "EQUALS":
                raise ParseError(f"Expected '=' after .{member.text}; reading a property alone "
                                 f"is not supported, use: Get-X | Format-List {member.text}")
            self.take()
            if self.peek() is None:
                raise ParseError("You must provide a value expression on the right-hand side of the "
                                 "'=' operator.")
            return Assignment(source, member.text, self.value())
        return self.pipeline()

    def pipeline(self) -> Pipeline:
        cmds = [self.command()]
        while (t := self.peek()) is not None and t.kind == "PIPE":
            self.take()
            if self.peek() is None:
                raise ParseError("An empty pipe element is not allowed.")
            cmds.append(self.command())
        return Pipeline(tuple(cmds))

    def command(self) -> Command:
        t = self.peek()
        if t is None or t.kind != "WORD":
            what = "end of line" if t is None else f"'{t.text}'"
            raise ParseError(f"Expected a command name (Verb-Noun) but found {what}.")
        name = self.take().text
        args: list[Arg] = []
        while (t := self.peek()) is not None and t.kind not in ("PIPE", "SEMI", "RPAREN"):
            if t.kind == "PARAM":
                self.take()
                if not t.glued:
                    args.append(ParamArg(t.text))
                    continue
                nxt = self.peek()
                if nxt is None or nxt.kind in ("PIPE", "SEMI", "RPAREN"):
                    raise ParseError(f"Missing an argument for parameter '{t.text}'.")
                args.append(ParamArg(t.text, self.value()))
            else:
                args.append(PosArg(self.value()))
        return Command(name, tuple(args))

    def scalar(self) -> Scalar:
        t = self.peek()
        if t is None:
            raise ParseError("Missing expression after ','.")
        if t.kind == "WORD":
            self.take()
            return Bare(t.text)
        if t.kind == "STRING":
            self.take()
            return Quoted(t.text)
        if t.kind == "VAR":
            self.take()
            low = t.text.lower()
            if low == "true":
                return BoolLit(True)
            if low == "false":
                return BoolLit(False)
            if low == "null":
                return NullLit()
            raise ParseError(f"The variable '${t.text}' cannot be retrieved because it has not been set.")
        if t.kind == "PARAM":
            # a negative number or a dash-word in value position, e.g. `-Value -1`
            self.take()
            return Bare("-" + t.text + (":" if t.glued else ""))
        raise ParseError(f"Unexpected token '{t.text}' in expression or statement.")

    def value(self) -> Value:
        first = self.scalar()
        if (t := self.peek()) is None or t.kind != "COMMA":
            return first
        items = [first]
        while (t := self.peek()) is not None and t.kind == "COMMA":
            self.take()
            items.append(self.scalar())
        return ListLit(tuple(items))


def parse(line: str) -> list[Statement]:
    """Parse one command line into statements (empty list for a blank line)."""
    return _Parser(tokenize(line)).statements()


_NEEDS_QUOTES = re.compile(r"""[\s'"`]""")


def join_argv(argv: list[str]) -> str:
    """Re-join shell-split argv items into one PowerShell line.

    The shell already removed its own quotes, so an item holding whitespace or quote characters (or an
    empty item) was quoted by the user and becomes one single-quoted literal; any other item is kept
    verbatim so that ``n1,n2``, ``-Drain:$false`` (quoted against the shell) and ``2TB`` keep their
    PowerShell meaning.
    """
    parts: list[str] = []
    for item in argv:
        if item == "" or _NEEDS_QUOTES.search(item):
            parts.append("'" + item.replace("'", "''") + "'")
        else:
            parts.append(item)
    return " ".join(parts)
