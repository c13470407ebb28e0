"""Table tests for the PowerShell-like parser and binder."""
from __future__ import annotations

import pytest

from sofs.management.psbind import BindError, ParamSpec, ParamType, bind, parse_number
from sofs.management.psparse import (
    Assignment,
    Bare,
    BoolLit,
    Command,
    ListLit,
    NullLit,
    ParamArg,
    ParseError,
    Pipeline,
    PosArg,
    Quoted,
    join_argv,
    parse,
)

T = ParamType


def one(line: str) -> Command:
    (st,) = parse(line)
    assert isinstance(st, Pipeline) and len(st.commands) == 1
    return st.commands[0]


@pytest.mark.parametrize("line,args", [
    ("Get-Cluster", ()),
    ("Get-ClusterNode n1", (PosArg(Bare("n1")),)),
    ("New-Cluster -Name c -Node n1,n2, n3", (ParamArg("Name"), PosArg(Bare("c")), ParamArg("Node"),
                                              PosArg(ListLit((Bare("n1"), Bare("n2"), Bare("n3")))))),
    ("Suspend-ClusterNode -Drain:$false", (ParamArg("Drain", BoolLit(False)),)),
    ("Suspend-ClusterNode -Drain: $TRUE", (ParamArg("Drain", BoolLit(True)),)),
    ("X-Y -A $null", (ParamArg("A"), PosArg(NullLit()))),
    ("X-Y 'it''s' \"a `\"b`\" \"\"c\"\"\"", (PosArg(Quoted("it's")), PosArg(Quoted('a "b" "c"')))),
    ("X-Y \"tab`there\"", (PosArg(Quoted("tab\there")),)),
    (r"Set-ClusterQuorum -FileShareWitness \\srv\share", (ParamArg("FileShareWitness"),
                                                         PosArg(Bare(r"\\srv\share")))),
    (r"New-SmbShare -FullAccess 'DOMAIN\HyperVHosts$'", (ParamArg("FullAccess"),
                                                       PosArg(Quoted("DOMAIN\\HyperVHosts$")))),
    ("X-Y -Size 2TB -N -5", (ParamArg("Size"), PosArg(Bare("2TB")), ParamArg("N"), PosArg(Bare("-5")))),
    ("X-Y -A 'a b','c'", (ParamArg("A"), PosArg(ListLit((Quoted("a b"), Quoted("c")))))),
])
def test_parse_args(line: str, args: tuple[object, ...]) -> None:
    cmd = one(line)
    assert cmd.args == args


def test_pipeline_and_statements() -> None:
    sts = parse("Get-ClusterNode n1 | Suspend-ClusterNode -Drain; Get-Cluster")
    assert len(sts) == 2
    p = sts[0]
    assert isinstance(p, Pipeline)
    assert [c.name for c in p.commands] == ["Get-ClusterNode", "Suspend-ClusterNode"]


def test_assignment() -> None:
    (st,) = parse("(Get-Cluster).SameSubnetThreshold = 5")
    assert st == Assignment(Pipeline((Command("Get-Cluster", ()),)), "SameSubnetThreshold", Bare("5"))
    (st,) = parse("(Get-Cluster -Name c).Description = 'my cluster'")
    assert isinstance(st, Assignment) and st.value == Quoted("my cluster")


@pytest.mark.parametrize("line,msg", [
    ("X-Y 'abc", "missing the terminator: '"),
    ('X-Y "abc', 'missing the terminator: "'),
    ("Get-Cluster |", "An empty pipe element is not allowed."),
    ("(Get-Cluster).X", "Expected '='"),
    ("(Get-Cluster).X =", "right-hand side"),
    ("X-Y $foo", "has not been set"),
    ("X-Y -A:", "Missing an argument for parameter 'A'"),
    ("X-Y a,", "Missing expression after ','"),
    ("(Get-Cluster", "Missing closing ')'"),
])
def test_parse_errors(line: str, msg: str) -> None:
    with pytest.raises(ParseError, match=None) as ei:
        parse(line)
    assert msg in str(ei.value)


SPECS = (
    ParamSpec("Name", T.STRING, position=0, from_pipeline_by_name=True),
    ParamSpec("Node", T.STRING_LIST, position=1, aliases=("NodeName",)),
    ParamSpec("NoStorage", T.SWITCH),
    ParamSpec("Drain", T.SWITCH),
    ParamSpec("Threshold", T.INT),
    ParamSpec("Size", T.UINT64),
    ParamSpec("Enabled", T.BOOL),
    ParamSpec("Mode", T.STRING, choices=("AccessBased", "Unrestricted")),
)


def b(line: str, specs: tuple[ParamSpec, ...] = SPECS) -> dict[str, object]:
    return bind(one("X-Y " + line).args, specs)


@pytest.mark.parametrize("line,expected", [
    ("-Name c", {"Name": "c"}),
    ("-name c -NODE n1,n2", {"Name": "c", "Node": ["n1", "n2"]}),
    ("c n1", {"Name": "c", "Node": ["n1"]}),
    ("-Node n1 c", {"Node": ["n1"], "Name": "c"}),
    ("-NoS -Dr", {"NoStorage": True, "Drain": True}),
    ("-Drain:$false", {"Drain": False}),
    ("-Drain:false", {"Drain": False}),
    ("-NodeName a", {"Node": ["a"]}),
    ("-Nodena a", {"Node": ["a"]}),
    ("-Threshold 0x10", {"Threshold": 16}),
    ("-Size 2TB", {"Size": 2 << 40}),
    ("-Size 512mb", {"Size": 512 << 20}),
    ("-Size 1.5GB", {"Size": 3 << 29}),
    ("-Enabled $true", {"Enabled": True}),
    ("-Enabled 0", {"Enabled": False}),
    ("-Mode accessbased", {"Mode": "AccessBased"}),
    ("-Name 007", {"Name": "007"}),
])
def test_bind_ok(line: str, expected: dict[str, object]) -> None:
    assert b(line) == expected


@pytest.mark.parametrize("line,msg", [
    ("-Nmae c", "A parameter cannot be found that matches parameter name 'Nmae'."),
    ("-N c", ("Parameter cannot be processed because the parameter name 'N' is ambiguous. "
             "Possible matches include: -Name -Node -NoStorage.")),
    ("-Name", "Missing an argument for parameter 'Name'. Specify a parameter of type 'System.String'"),
    ("-Name a -Name b", "parameter 'Name' is specified more than once"),
    ("a b c", "A positional parameter cannot be found that accepts argument 'c'."),
    ("-Threshold abc", 'Cannot convert value "abc" to type "System.Int32"'),
    ("-Threshold 5000000000", "too large or too small for an Int32"),
    ("-Size -1", "too large or too small for a UInt64"),
    ("-Enabled maybe", "Boolean parameters accept only Boolean values"),
    ("-Enabled -Drain", "Missing an argument for parameter 'Enabled'"),
    ("-Mode x", 'does not belong to the set "AccessBased,Unrestricted"'),
    ("-Name a,b", "Specified argument was a list"),
    ("-Name $null", "because it is null"),
])
def test_bind_errors(line: str, msg: str) -> None:
    with pytest.raises(BindError) as ei:
        b(line)
    assert msg in str(ei.value)


def test_mandatory_and_pipeline() -> None:
    specs = (ParamSpec("Name", T.STRING, mandatory=True, position=0, from_pipeline_by_name=True),
             ParamSpec("Node", T.STRING, mandatory=True))
    with pytest.raises(BindError, match="missing mandatory parameters: Name Node."):
        bind((), specs)
    assert bind(one("X-Y -Node n2").args, specs, {"name": "g1", "State": "Online"}) == {
        "Name": "g1", "Node": "n2"}


@pytest.mark.parametrize("text,num", [("5", 5), ("1KB", 1024), ("0x1f", 31), ("2.5", 2.5), ("x", None),
                                      ("1PB", 1 << 50), ("-3", -3)])
def test_parse_number(text: str, num: object) -> None:
    assert parse_number(text) == num


@pytest.mark.parametrize("argv,line", [
    (["New-Cluster", "-Name", "c", "-Node", "n1,n2"], "New-Cluster -Name c -Node n1,n2"),
    (["X-Y", "-Path", "C:\\Cluster Storage\\V1"], "X-Y -Path 'C:\\Cluster Storage\\V1'"),
    (["X-Y", "-Name", "O'Brien"], "X-Y -Name 'O''Brien'"),
    (["X-Y", "-Name", ""], "X-Y -Name ''"),
    (["X-Y", "-Drain:$false"], "X-Y -Drain:$false"),
])
def test_join_argv(argv: list[str], line: str) -> None:
    assert join_argv(argv) == line


def test_join_argv_roundtrip_values() -> None:
    cmd = one(join_argv(["X-Y", "-Node", "n1,", "n2", "-Path", "a b", "-Name", 'say "hi"']))
    assert cmd.args[1] == PosArg(ListLit((Bare("n1"), Bare("n2"))))
    assert cmd.args[3] == PosArg(Quoted("a b"))
    assert cmd.args[5] == PosArg(Quoted('say "hi"'))
