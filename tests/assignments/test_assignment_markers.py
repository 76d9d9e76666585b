"""Solution markers: stubs, indentation, and errors that name the file and line."""
from __future__ import annotations

import pytest

from minicnn.assignments import MarkerError, find_assignment, strip_solutions
from minicnn.assignments.markers import has_markers

from assignment_helpers import ASSIGNMENTS

SOURCE = '''import numpy as np


def relu(x):
    """max(x, 0)."""
    # BEGIN SOLUTION
    return np.maximum(x, 0)
    # END SOLUTION


class Layer:
    def forward(self, x):
        y = x * 2
        if y.any():
            # BEGIN SOLUTION
            y = y + 1
            # END SOLUTION
        return y
'''


def test_default_stub_names_the_function_and_keeps_the_indentation():
    result = strip_solutions(SOURCE, "layers.py")
    lines = result.text.splitlines()
    assert '    raise NotImplementedError("implement relu in layers.py")' in lines
    assert '            raise NotImplementedError("implement Layer.forward in layers.py")' in lines
    assert result.regions == 2
    assert [line.strip() for line in result.solution_lines] == ["return np.maximum(x, 0)", "y = y + 1"]
    assert "np.maximum" not in result.text and "BEGIN SOLUTION" not in result.text
    compile(result.text, "layers.py", "exec")


def test_stub_lines_and_stub_blocks_replace_the_region():
    source = '''def f(x):
    # BEGIN SOLUTION
    # STUB: out = None  # your code
    out = x + 1
    # END SOLUTION
    return out


def g(n):
    # BEGIN SOLUTION
    # BEGIN STUB
    # total = 0
    # for i in range(n):
    #     pass
    # END STUB
    total = sum(range(n))
    # END SOLUTION
    return total
'''
    text = strip_solutions(source, "f.py").text
    assert "    out = None  # your code\n    return out" in text
    assert "    total = 0\n    for i in range(n):\n        pass\n    return total" in text
    assert "x + 1" not in text and "sum(range(n))" not in text and "NotImplementedError" not in text
    namespace: dict = {}
    exec(compile(text, "f.py", "exec"), namespace)
    assert namespace["f"](1) is None and namespace["g"](3) == 0


def test_text_without_markers_is_unchanged():
    text = "def f():\n    return 1\n"
    assert strip_solutions(text).text == text
    assert not has_markers(text) and has_markers("  #  BEGIN SOLUTION\n")


@pytest.mark.parametrize("source, message", [
    ("# BEGIN SOLUTION\nx = 1\n# BEGIN SOLUTION\n# END SOLUTION\n",
     "m.py:3: '# BEGIN SOLUTION' inside the solution region opened at line 1"),
    ("x = 1\n# END SOLUTION\n", "m.py:2: '# END SOLUTION' without a matching '# BEGIN SOLUTION'"),
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n", "m.py:2: '# BEGIN SOLUTION' is never closed"),
    ("# STUB: x = 1\n", "m.py:1: '# STUB:' outside a solution region"),
    ("# BEGIN STUB\n", "m.py:1: '# BEGIN STUB' outside a solution region"),
    ("# BEGIN SOLUTION\n# BEGIN STUB\n# x = 1\n# END SOLUTION\n",
     "m.py:4: '# END SOLUTION' inside the stub block opened at line 2"),
    ("# BEGIN SOLUTION\n# BEGIN STUB\nx = 1\n# END STUB\n# END SOLUTION\n",
     "m.py:3: a line inside '# BEGIN STUB' ... '# END STUB' must be a comment"),
    ("# END STUB\n", "m.py:1: '# END STUB' without a matching '# BEGIN STUB'"),
])
def test_misplaced_markers_name_file_and_line(source, message):
    with pytest.raises(MarkerError) as info:
        strip_solutions(source, "m.py")
    assert message in str(info.value)


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_every_student_file_has_solutions_and_its_starter_compiles(name):
    assignment = find_assignment(name)
    for rel in assignment.student_files:
        source = (assignment.root / rel).read_text()
        result = strip_solutions(source, rel)
        assert result.regions >= 1, f"{rel} has no solution region"
        compile(source, rel, "exec")
        compile(result.text, rel, "exec")
        assert result.text.count("raise NotImplementedError") == result.regions
