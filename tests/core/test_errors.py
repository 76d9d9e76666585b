"""Shape errors name the op and the shapes; validation never uses ``assert``."""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import minicnn

PACKAGE = Path(minicnn.__file__).parent


def t(*shape: int) -> minicnn.Tensor:
    return minicnn.zeros(*shape)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
def test_broadcast_error_names_the_op_and_both_shapes(op):
    with pytest.raises(ValueError, match=rf"^{op}: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        getattr(minicnn, op)(t(2, 3), t(4))


def test_operator_broadcast_error():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(2,\)"):
        t(2, 3) + t(2)


def test_matmul_inner_dimension_error():
    with pytest.raises(ValueError, match=r"matmul: \(2, 3\) @ \(4, 5\): the inner dimensions 3 and 4 differ"):
        t(2, 3) @ t(4, 5)
    with pytest.raises(ValueError, match=r"matmul: \(3,\) @ \(2,\)"):
        t(3) @ t(2)
    with pytest.raises(ValueError, match=r"matmul.*batch.*\(2,\) and \(3,\)"):
        t(2, 4, 5) @ t(3, 5, 1)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        minicnn.matmul(minicnn.tensor(2.0), t(2))


def test_cat_and_stack_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"cat: shapes \[\(2, 3\), \(3, 3\)\] differ outside dim 1"):
        minicnn.cat([t(2, 3), t(3, 3)], dim=1)
    with pytest.raises(ValueError, match=r"cat: .*same number of dimensions.*\(2, 3\), \(3,\)"):
        minicnn.cat([t(2, 3), t(3)])
    with pytest.raises(ValueError, match=r"stack: .*same shape.*\(2, 3\), \(2, 2\)"):
        minicnn.stack([t(2, 3), t(2, 2)])
    with pytest.raises(ValueError, match="cat: needs at least one tensor"):
        minicnn.cat([])
    with pytest.raises(IndexError, match="cat: dim 2 is out of range"):
        minicnn.cat([t(2, 3), t(2, 3)], dim=2)
    with pytest.raises(IndexError, match=r"stack: dim 3 is out of range.*2 dimensions.*\[-3, 2\]"):
        minicnn.stack([t(2, 3), t(2, 3)], dim=3)


def test_reshape_error_names_both_shapes_and_counts():
    with pytest.raises(ValueError, match=r"reshape: cannot reshape \(2, 3\) \(6 elements\) into \(4,\) \(4 elements\)"):
        t(2, 3).reshape(4)
    with pytest.raises(ValueError, match=r"reshape: cannot reshape \(2, 3\).*\(4, -1\)"):
        t(2, 3).reshape(4, -1)
    with pytest.raises(ValueError, match="only one dimension can be -1"):
        t(2, 3).reshape(-1, -1)
    with pytest.raises(ValueError, match="non-negative"):
        t(2, 3).reshape(-2, -3)


def test_permute_and_dim_errors():
    with pytest.raises(ValueError, match=r"permute: \(0, 0\) is not a permutation of the 2 axes.*\(2, 3\)"):
        t(2, 3).permute(0, 0)
    with pytest.raises(ValueError, match=r"permute: \(0, 3\) is not a permutation"):
        t(2, 3).permute(0, 3)  # 3 must not wrap around to 1
    with pytest.raises(IndexError, match=r"transpose: dim 2 is out of range.*2 dimensions"):
        t(2, 3).transpose(0, 2)
    with pytest.raises(IndexError, match=r"unsqueeze: dim 3 is out of range.*2 dimensions"):
        t(2, 3).unsqueeze(3)
    with pytest.raises(IndexError, match="sum: dim -3 is out of range"):
        t(2, 3).sum(-3)
    with pytest.raises(IndexError, match="flatten: dim 5 is out of range"):
        t(2, 3).flatten(5)
    with pytest.raises(ValueError, match="names the same axis twice"):
        t(2, 3).sum((1, -1))


def test_scalar_reduction_dims_follow_torch():
    s = minicnn.tensor(3.0)
    assert s.sum(0).item() == 3.0 and s.mean(-1).item() == 3.0
    assert s.unsqueeze(0).shape == (1,) and s.squeeze(0).shape == ()
    with pytest.raises(IndexError, match="out of range"):
        s.sum(1)


def test_misc_value_errors():
    with pytest.raises(ValueError, match="clip: give at least one of min and max"):
        minicnn.clip(t(2))
    with pytest.raises(ValueError, match=r"pad: need one non-negative \(before, after\) pair per axis of \(2, 3\)"):
        minicnn.pad(t(2, 3), [(1, 1)])
    with pytest.raises(ValueError, match="max: the tensor is empty"):
        t(0).max()
    with pytest.raises(ValueError, match=r"item\(\).*shape \(2,\)"):
        t(2).item()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t(2))
    with pytest.raises(IndexError, match="integer or bool"):
        t(3)[minicnn.tensor([0.5])]
    with pytest.raises(ValueError, match=r"backward\(\): grad has shape"):
        minicnn.Tensor(np.ones(2), requires_grad=True).backward(np.ones(3))


def _assert_statements(path: Path) -> list[int]:
    return [node.lineno for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Assert)]


def test_no_assert_statements_in_the_package():
    # `python -O` strips asserts, so validation must raise real exceptions
    kernels = importlib.util.find_spec("minicnn.kernels")
    roots = [PACKAGE] + ([Path(p) for p in kernels.submodule_search_locations] if kernels else [])
    # test files shipped with the student assignments are tests: asserts belong there
    def is_test(p: Path) -> bool:
        return p.name.startswith("test_") or "hidden" in p.parts or "tests" in p.parts

    offenders = {str(p): lines for root in roots for p in sorted(root.rglob("*.py"))
                 if not is_test(p) and (lines := _assert_statements(p))}
    assert offenders == {}, f"assert used in minicnn: {offenders}"


def test_the_assert_finder_finds_asserts(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f(x):\n    y = 'assert'\n    assert x > 0, 'positive'\n    return x\n")
    assert _assert_statements(f) == [3]
