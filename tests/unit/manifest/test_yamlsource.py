"""YAML reading: positions, duplicate keys, merge keys, YAML 1.2 scalars, bad bytes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from qplan.errors import ManifestError
from qplan.manifest import yamlsource
from qplan.manifest.yamlsource import decode_text, format_path, load_yaml, read_text

# "Billion laughs": nine levels of nine aliases, 9**9 (387 million) strings once expanded.
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_positions_of_values_and_keys() -> None:
    doc = load_yaml("a:\n  b: [1, 2]\n  c: {d: x}\n", "f.yaml")
    assert doc.position(["a", "b", 1]) == (2, 10)
    assert doc.position(["a", "c", "d"]) == (3, 10)
    assert doc.position(["a", "c"], key=True) == (3, 3)
    assert doc.position(["a", "missing", "deeper"]) == (2, 3)  # nearest existing node


def test_yaml_1_2_scalars() -> None:
    doc = load_yaml("a: yes\nb: on\nc: 010\nd: 0x1f\ne: 1_000\nf: .inf\ng: ~\nh: 2024-01-01\n", "f")
    assert doc.data == {
        "a": "yes",
        "b": "on",
        "c": 10,
        "d": 31,
        "e": 1000,
        "f": float("inf"),
        "g": None,
        "h": "2024-01-01",
    }


def test_duplicate_keys_are_located() -> None:
    doc = load_yaml("jobs:\n  a: 1\n  b: 2\n  a: 3\n", "f.yaml")
    (diag,) = doc.diagnostics
    assert (diag.line, diag.column, diag.path) == (4, 3, "jobs.a")
    assert "duplicate key (first defined at line 2)" in diag.message
    assert doc.data == {"jobs": {"a": 1, "b": 2}}


def test_merge_keys_and_anchors() -> None:
    text = "base: &b {shots: 10, target: local/braket_sv}\njob:\n  <<: *b\n  shots: 20\n"
    doc = load_yaml(text, "f")
    assert doc.data["job"] == {"shots": 20, "target": "local/braket_sv"}
    assert doc.position(["job", "target"]) == (1, 30)  # located where the merged value is


def test_unknown_tags_are_reported() -> None:
    doc = load_yaml("a: !secret x\nb: !!binary aGk=\n", "f")
    assert [d.message for d in doc.diagnostics] == [
        "unsupported YAML tag !secret",
        "unsupported YAML tag !!binary",
    ]


def test_syntax_errors_and_tabs_are_located() -> None:
    with pytest.raises(ManifestError) as info:
        load_yaml("a: [1, 2\nb: 3\n", "f.yaml")
    assert info.value.diagnostics[0].line == 2


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("version: 1\njobs:\n\tbell: 1\n", 3, 1),  # the C parser: "cannot start any token"
        ("a:\n  \tb: 1\n", 2, 3),
        ("a: 1\n\tb: 2\n", 2, 1),  # "found a tab character that violates indentation"
        ("a:\n  b: 1\n  \tc: 2\n", 3, 3),
        ("a:\n  b: |\n    x\n\ty\n", 4, 1),  # in a block scalar
    ],
)
def test_a_tab_in_indentation_is_named_where_it_is(text: str, line: int, column: int) -> None:
    with pytest.raises(ManifestError) as info:
        load_yaml(text, "f.yaml")
    assert [str(d) for d in info.value.diagnostics] == [
        f"f.yaml:{line}:{column}: invalid YAML: a tab character; YAML indentation must use spaces"
    ]


def test_undecodable_bytes_are_located() -> None:
    with pytest.raises(ManifestError, match=r"f:2:4: not UTF-8 text \(byte 0xff\)"):
        decode_text(b"a: 1\nb: \xff\n", "f")
    with pytest.raises(ManifestError, match="f:1:3: contains a NUL byte"):
        decode_text(b"a:\x00", "f")
    assert decode_text("\ufeffa: 1".encode(), "f") == "a: 1"  # a BOM is fine


def test_long_paths_are_shortened_in_the_middle() -> None:
    assert format_path(["jobs", "rabi", "sweep", "points", 3]) == "jobs.rabi.sweep.points[3]"
    twelve: list[str | int] = ["vars", "a", 0, 1, 2, 3, 4, 5, 6, 7, 8, "b"]
    assert format_path(twelve) == "vars.a[0][1][2][3][4][5][6][7][8].b"
    assert format_path([*twelve, "c"]) == "vars.a[0][1][2][3]…b.c (13 levels)"
    assert format_path([*twelve[:-1], "b", 9]) == "vars.a[0][1][2][3]…b[9] (13 levels)"


def test_deeply_nested_value_has_a_short_path() -> None:
    doc = load_yaml("x: " + "[" * 70 + "]" * 70, "f")
    (diag,) = doc.diagnostics
    assert diag.path == "x[0][0][0][0][0]…[0][0] (65 levels)"
    assert diag.message == "nested deeper than 64 levels"


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    deep = "[" * 500 + "]" * 500
    try:
        doc = load_yaml(deep, "f")
    except ManifestError:
        return
    assert any("nested deeper" in d.message for d in doc.diagnostics)


def test_alias_expansion_is_bounded_before_anything_is_built() -> None:
    started = time.perf_counter()
    with pytest.raises(ManifestError) as info:
        load_yaml(BOMB, "bomb.yaml")
    assert time.perf_counter() - started < 1
    (diag,) = info.value.diagnostics
    # a..f add 672,588 nodes; the first *f in g (597,871 more) passes the limit.
    assert (diag.file, diag.line, diag.column, diag.path) == ("bomb.yaml", 7, 8, "g[0]")
    assert "alias *f" in diag.message
    assert "more than 1,000,000 nodes" in diag.message


def test_aliases_below_the_limit_are_expanded() -> None:
    five_levels = "\n".join(BOMB.splitlines()[:5])  # 9**5 = 59,049 strings in e
    doc = load_yaml(five_levels, "f")
    assert len(doc.data["e"]) == 9
    assert doc.data["e"][8][8][8][8] == ["x"] * 9


def test_recursive_alias_is_located() -> None:
    with pytest.raises(ManifestError) as info:
        load_yaml("ok: 1\nloop: &r [1, *r]\n", "f.yaml")
    (diag,) = info.value.diagnostics
    assert (diag.line, diag.column, diag.path) == (2, 14, "loop[1]")
    assert "alias *r is used inside the node it names" in diag.message


def test_files_larger_than_the_limit_are_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yamlsource, "MAX_FILE_BYTES", 100)
    small = tmp_path / "small.yaml"
    small.write_text("a: " + "x" * 95 + "\n")  # 99 bytes
    assert read_text(small, "small.yaml").startswith("a: x")
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * 200 + "\n")
    with pytest.raises(ManifestError) as info:
        read_text(big, "big.yaml")
    assert str(info.value.diagnostics[0]) == (
        "big.yaml: 204 bytes, larger than the 100 bytes qplan reads from a manifest, "
        "var file or points file"
    )


NEVER_CLOSED = "quoted string opened here is never closed"


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ('a:\n  b: "abc\n  c: 1\n  d: 2\n', 2, 6, NEVER_CLOSED),
        ("a: 'it''s\n", 1, 4, NEVER_CLOSED),
        ('a: [1, "b\n', 1, 8, NEVER_CLOSED),
        ('a:\n  b: "abc\n---\nc: 1\n', 2, 6, NEVER_CLOSED),  # a document marker ends it
        # closed by the opening quote of a later string, so the parser stops there
        (
            "jobs:\n  a:\n    target: 'local/braket_sv\n    shots: 1\n"
            "  b:\n    target: 'local/braket_sv'\n",
            3,
            13,
            "quoted string opened here runs on to line 6; is its closing quote missing?",
        ),
    ],
)
def test_an_unclosed_quote_is_located_where_it_opens(
    text: str, line: int, column: int, message: str
) -> None:
    with pytest.raises(ManifestError) as info:
        load_yaml(text, "f.yaml")
    assert [str(d) for d in info.value.diagnostics] == [
        f"f.yaml:{line}:{column}: invalid YAML: {message}"
    ]


def test_a_string_quoted_over_several_lines_is_valid() -> None:
    doc = load_yaml('a: "one\n  two"\nb: 1\n', "f")
    assert doc.data == {"a": "one two", "b": 1}
