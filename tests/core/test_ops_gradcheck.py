"""Every op's backward agrees with central finite differences (float64, every element)."""
from __future__ import annotations

import pytest

import minicnn

from .op_cases import OP_CASES, OpCase


@pytest.mark.parametrize("case", [c for c in OP_CASES if c.gradcheck], ids=str)
def test_op_gradient_matches_finite_differences(case: OpCase):
    report = minicnn.gradcheck(lambda *xs: case.expr(minicnn, *xs), case.arrays(), mode="full")
    assert report.ok
    assert len(report.inputs) == len(case.arrays())  # every input was checked
