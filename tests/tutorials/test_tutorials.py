"""Every tutorial runs (in fast mode) and prints the numbers its prose promises.

Each tutorial is run as a script in a subprocess with ``MINICNN_FAST=1`` (fewer epochs,
less data) and headless Matplotlib; the test then checks the claims in its output.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[2] / "tutorials"


def run_tutorial(name: str, tmp_path: Path) -> str:
    env = {**os.environ, "MINICNN_FAST": "1", "MPLBACKEND": "Agg", "MINICNN_HOME": str(tmp_path / "home"),
           "MINICNN_OUT": str(tmp_path / "out")}
    proc = subprocess.run([sys.executable, str(TUTORIALS / name)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def number_after(text: str, pattern: str) -> float:
    m = re.search(pattern + r"\s*(-?[0-9.]+(?:e-?[0-9]+)?)", text)
    assert m, f"{pattern!r} not found in output"
    return float(m.group(1))


def test_01_autograd_chain_rule(tmp_path):
    out = run_tutorial("01_autograd.py", tmp_path)
    assert "a = sigmoid(z) = 0.52498" in out
    hand = re.search(r"by hand:\s+da/dw = \[(.*?)\], da/db = (\S+)", out).groups()
    auto = re.search(r"by backward: da/dw = \[(.*?)\], da/db = (\S+)", out).groups()
    assert hand == auto == ("0.24938, 0.49875", "0.24938")
    pos = re.search(r"positive: backward \[(.*?)\]\s+\(p - 1\) x = \[(.*?)\]", out).groups()
    neg = re.search(r"negative: backward \[(.*?)\]\s+p x\s+= \[(.*?)\]", out).groups()
    assert pos[0].split() == pos[1].split() == ["-0.57444", "-1.14888", "0.57444"]
    assert neg[0].split() == neg[1].split() == ["0.42556", "0.85111", "-0.42556"]
    passed = re.findall(r"gradient check passed: (\w+)", out)
    assert passed == ["True", "False"]          # the correct backward passes, the broken one is caught
    assert "dy/dx at x = 2: 7.0" in out


def test_02_conv_arithmetic(tmp_path):
    out = run_tutorial("02_conv_arithmetic.py", tmp_path)
    assert "stride 1: formula 5.00, minicnn gives 5x5" in out
    assert "stride 2: formula 3.00, minicnn gives 3x3" in out
    assert "stride 3: formula 2.33, minicnn gives 2x2" in out
    assert "(7 + 2*0 - 3)/3 + 1 = 2.33" in out          # the warning, with its numbers
    assert out.count("-> minicnn 7x7") == 3               # padding (F-1)/2 preserves size
    assert "minicnn counts 760" in out and "(10, 32, 32)" in out
    assert "2080 parameters" in out
    assert number_after(out, r"max \|conv - \(W @ pixel \+ b\)\| =") < 1e-5
    assert re.search(r"4 \(Conv2d\)\s+\(8, 32, 32\)\s+584\s+7", out)     # three 3x3 convs see 7x7
    assert re.search(r"6 \(Conv2d\)\s+\(8, 8, 8\)\s+584\s+18", out)      # with downsampling: 18
