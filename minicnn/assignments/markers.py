"""Solution markers: turn a reference source file into student starter code.

An instructor writes the complete, working solution and marks the parts students must write::

    def relu_forward(x: np.ndarray) -> np.ndarray:
        \"\"\"max(x, 0) elementwise.\"\"\"
        # BEGIN SOLUTION
        return np.maximum(x, 0)
        # END SOLUTION

The starter code keeps everything outside the markers and replaces each region by a stub,
indented like the ``# BEGIN SOLUTION`` line::

    def relu_forward(x: np.ndarray) -> np.ndarray:
        \"\"\"max(x, 0) elementwise.\"\"\"
        raise NotImplementedError("implement relu_forward in layers.py")

The default stub names the enclosing function. A region can give its own stub instead, either
one line at a time (``# STUB: <code>``) or as a block of commented-out code; both are
comments, so the reference file still runs unchanged::

    # BEGIN SOLUTION
    # STUB: out = None  # fill in out
    out = np.maximum(x, 0)
    # END SOLUTION

    # BEGIN SOLUTION
    # BEGIN STUB
    # for i in range(n):
    #     pass
    # END STUB
    ...
    # END SOLUTION

Every mistake in the markers (a region opened twice, an END without BEGIN, a region left open
at the end of the file, a STUB outside a region) is a :class:`MarkerError` naming the file and
line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["MarkerError", "StrippedSource", "strip_solutions", "has_markers"]

# A marker is a whole-line comment; "#BEGIN SOLUTION" and trailing words are accepted too.
_BEGIN = re.compile(r"^(\s*)#\s*BEGIN SOLUTION\b")
_END = re.compile(r"^(\s*)#\s*END SOLUTION\b")
_BEGIN_STUB = re.compile(r"^(\s*)#\s*BEGIN STUB\b")
_END_STUB = re.compile(r"^(\s*)#\s*END STUB\b")
_STUB_LINE = re.compile(r"^(\s*)#\s*STUB:\s?(.*)$")
_ANY_MARKER = re.compile(r"^\s*#\s*(BEGIN|END)\s+(SOLUTION|STUB)\b|^\s*#\s*STUB:")
_DEF = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)")
_CLASS = re.compile(r"^(\s*)class\s+(\w+)")


class MarkerError(ValueError):
    """A solution marker is misplaced; the message names the file and the line."""


@dataclass
class StrippedSource:
    """The result of :func:`strip_solutions`.

    Attributes:
        text: the starter code (solutions replaced by stubs).
        solution_lines: every line inside a solution region, without the markers and stubs:
            the text that must never reach students.
        regions: number of solution regions found.
    """

    text: str
    solution_lines: list[str] = field(default_factory=list)
    regions: int = 0


def has_markers(text: str) -> bool:
    """True if any line of ``text`` is a solution or stub marker."""
    return any(_ANY_MARKER.match(line) for line in text.splitlines())


def _enclosing_function(lines: list[str], index: int, indent: str) -> str | None:
    """Name of the innermost ``def`` enclosing a line indented ``indent`` at line ``index``,
    as ``Class.method`` for a method."""
    name, depth = None, len(indent)
    for line in reversed(lines[:index]):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        line_indent = len(line) - len(line.lstrip())
        if name is None:
            m = _DEF.match(line)
            if m and line_indent < depth:
                name, depth = m.group(2), line_indent
        elif line_indent < depth:          # the first statement the def is nested in
            m = _CLASS.match(line)
            return f"{m.group(2)}.{name}" if m else name
    return name


def _default_stub(indent: str, function: str | None, filename: str) -> str:
    what = function if function is not None else "this part"
    return f'{indent}raise NotImplementedError("implement {what} in {filename}")'


def _uncomment(line: str, filename: str, lineno: int) -> str:
    """'    # x = 1' -> '    x = 1' (a line of a BEGIN STUB block)."""
    m = re.match(r"^(\s*)# ?(.*)$", line)
    if m is None:
        if not line.strip():
            return ""
        raise MarkerError(f"{filename}:{lineno}: a line inside '# BEGIN STUB' ... '# END STUB' must be a "
                          f"comment (the stub is commented-out code), got {line.strip()!r}")
    return m.group(1) + m.group(2)


def strip_solutions(text: str, filename: str = "<source>") -> StrippedSource:
    """Replace every ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region of ``text`` by its stub.

    Args:
        text: a reference source file.
        filename: used in error messages and in the default stub's message.

    Returns:
        a :class:`StrippedSource` with the starter text and the removed solution lines.

    Raises:
        MarkerError: nested, unbalanced or misplaced markers (message: ``file:line: ...``).
    """
    lines = text.splitlines()
    out: list[str] = []
    result = StrippedSource(text="")
    begin_line = 0                 # 1-based line of the open region's BEGIN, 0 when outside
    begin_indent = ""
    stub: list[str] = []           # stub lines collected for the open region
    stub_block_line = 0            # 1-based line of an open BEGIN STUB, 0 when outside

    for lineno, line in enumerate(lines, start=1):
        where = f"{filename}:{lineno}"
        if stub_block_line:
            if _END_STUB.match(line):
                stub_block_line = 0
            elif _ANY_MARKER.match(line):
                raise MarkerError(f"{where}: {line.strip()!r} inside the stub block opened at line "
                                  f"{stub_block_line}; close it with '# END STUB' first")
            else:
                stub.append(_uncomment(line, filename, lineno))
            continue
        if m := _BEGIN.match(line):
            if begin_line:
                raise MarkerError(f"{where}: '# BEGIN SOLUTION' inside the solution region opened at "
                                  f"line {begin_line}; regions cannot be nested, close it with "
                                  f"'# END SOLUTION' first")
            begin_line, begin_indent, stub = lineno, m.group(1), []
            continue
        if _END.match(line):
            if not begin_line:
                raise MarkerError(f"{where}: '# END SOLUTION' without a matching '# BEGIN SOLUTION'")
            if not stub:
                function = _enclosing_function(lines, begin_line - 1, begin_indent)
                stub = [_default_stub(begin_indent, function, filename.rsplit("/", 1)[-1])]
            out.extend(stub)
            result.regions += 1
            begin_line = 0
            continue
        if _BEGIN_STUB.match(line):
            if not begin_line:
                raise MarkerError(f"{where}: '# BEGIN STUB' outside a solution region; put it between "
                                  f"'# BEGIN SOLUTION' and '# END SOLUTION'")
            stub_block_line = lineno
            continue
        if m := _STUB_LINE.match(line):
            if not begin_line:
                raise MarkerError(f"{where}: '# STUB:' outside a solution region; put it between "
                                  f"'# BEGIN SOLUTION' and '# END SOLUTION'")
            stub.append(m.group(1) + m.group(2))
            continue
        if _END_STUB.match(line):
            raise MarkerError(f"{where}: '# END STUB' without a matching '# BEGIN STUB'")
        if begin_line:
            result.solution_lines.append(line)
        else:
            out.append(line)

    if stub_block_line:
        raise MarkerError(f"{filename}:{stub_block_line}: '# BEGIN STUB' is never closed with '# END STUB'")
    if begin_line:
        raise MarkerError(f"{filename}:{begin_line}: '# BEGIN SOLUTION' is never closed with "
                          f"'# END SOLUTION' (reached the end of the file)")
    result.text = "\n".join(out) + ("\n" if text.endswith("\n") else "")
    return result
