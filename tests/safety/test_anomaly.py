"""Anomaly mode names the first op that produced NaN/Inf, forward or backward."""
from __future__ import annotations

import numpy as np
import pytest

import minicnn
from minicnn import Tensor


def test_forward_anomaly_names_the_op_and_its_input_statistics():
    x = Tensor(np.array([0.5, 0.0, 2.0, 0.0], dtype=np.float32), requires_grad=True)
    with minicnn.detect_anomaly():
        y = x * 2
        with pytest.raises(minicnn.AnomalyError) as err:
            minicnn.log(y)          # log(0) = -inf: the first bad op
    msg = str(err.value)
    assert msg.startswith("Log.forward produced 2 non-finite values (inf) out of 4")
    assert "input 0: shape (4,), float32, min 0, max 4" in msg and "2 zeros" in msg
    assert "the op was created at:" in msg and "test_anomaly.py" in msg


def test_anomaly_mode_is_off_by_default_and_restored():
    x = Tensor(np.zeros(2, dtype=np.float32))
    with np.errstate(divide="ignore"):
        assert not np.isfinite(minicnn.log(x).numpy()).any()   # no error outside the context
    with minicnn.detect_anomaly():
        pass
    assert not minicnn.anomaly.is_anomaly_enabled()


def test_backward_anomaly_names_the_op_whose_gradient_blew_up():
    x = Tensor(np.array([0.0, 1.0], dtype=np.float32), requires_grad=True)
    with minicnn.detect_anomaly():
        y = minicnn.sqrt(x)                # forward is fine: sqrt(0) = 0
        with pytest.raises(minicnn.AnomalyError) as err:
            y.sum().backward()             # d sqrt/dx = 1/(2 sqrt x) = inf at 0
    msg = str(err.value)
    assert msg.startswith("Sqrt.backward produced 1 non-finite values (inf) in the gradient of input 0")
    assert "input 0: shape (2,), float32" in msg


def test_nan_already_in_the_data_is_reported_as_such():
    x = Tensor(np.array([np.nan, 1.0], dtype=np.float32))
    with minicnn.detect_anomaly(), pytest.raises(minicnn.AnomalyError, match="already non-finite"):
        x + 1
