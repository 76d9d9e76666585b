"""Every tutorial runs (in fast mode) and prints the numbers its prose promises.

Each tutorial is run as a script in a subprocess with ``MINICNN_FAST=1`` (fewer epochs,
less data) and headless Matplotlib; the test then checks the claims in its output.
"""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[2] / "tutorials"
# Tutorials run side by side (pytest -n 2): one thread each, unless the caller set otherwise,
# so two tutorials' BLAS and Numba thread pools do not fight over the same cores.
ONE_THREAD = {var: "1" for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                   "NUMBA_NUM_THREADS")}


def run_tutorial(name: str, tmp_path: Path) -> str:
    env = {**ONE_THREAD, **os.environ, "MINICNN_FAST": "1", "MPLBACKEND": "Agg",
           "MINICNN_HOME": str(tmp_path / "home"), "MINICNN_OUT": str(tmp_path / "out")}
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


def saved_pngs(tmp_path: Path) -> set[str]:
    """Names of the non-empty PNG files a tutorial wrote to MINICNN_OUT."""
    return {p.name for p in (tmp_path / "out").glob("*.png") if p.stat().st_size > 1000}


def test_03_conv_as_matmul(tmp_path):
    out = run_tutorial("03_conv_as_matmul.py", tmp_path)
    assert "[[ 1  2  5  6]\n [ 2  3  6  7]" in out and "[11 12 15 16]]" in out     # im2col by hand
    y = "[[ 44  54  64]\n [ 84  94 104]\n [124 134 144]]"
    assert out.count(y) == 2                                  # cols @ w, then minicnn's conv2d
    assert "equal to ours: True" in out and "conv2d equals cols @ w: True" in out
    assert "minicnn's unfold (what conv2d uses): shape (1, 4, 9), equal to ours transposed: True" in out
    assert re.findall(r"dL/dw = \[(.*?)\]", out) == ["54 63 90 99"] * 2           # by hand, by backward
    assert out.count("[[ 1  3  3  2]\n [ 4 10 10  6]\n [ 4 10 10  6]\n [ 3  7  7  4]]") == 2   # dL/dx
    assert "col2im of dL/dcols equals ours: True" in out
    checks = re.findall(r"gradcheck (.+?): passed (\w+), worst relative error (\S+)", out)
    assert [c[0] for c in checks] == ["im2col by hand", "minicnn conv2d", "conv2d_naive"]
    assert all(c[1] == "True" and float(c[2]) < 1e-5 for c in checks)
    differences = [float(d) for d in re.findall(r"max \|difference\| in .{5} = (\S+)", out)]
    assert len(differences) == 4 and max(differences) < 1e-5  # naive loops == unfold + GEMM
    assert number_after(out, r"speed-up") > 0                 # printed, never asserted: timings vary
    assert saved_pngs(tmp_path) == {"im2col.png"}


def test_04_training_digits(tmp_path):
    out = run_tutorial("04_training_digits.py", tmp_path)
    assert "softmax of (3.2, 5.1, -1.7): [0.13  0.869 0.001]" in out
    assert "-ln p_cat = 2.0404; F.cross_entropy: 2.0404" in out
    assert abs(number_after(out, r"N\(0, 0.01\^2\): loss") - 2.3026) < 0.01           # ln 10
    # activations shrink / keep / grow per layer (predicted 0.085, 1, 8.5)
    assert number_after(out, r"sigma=0.01: activations multiplied by") < 0.15
    assert 0.7 < number_after(out, r"Kaiming: activations multiplied by") < 1.4
    assert number_after(out, r"sigma=1: activations multiplied by") > 5
    assert "momentum 0.0: after 50 steps w = [0.1684 0.    ], distance to the minimum 0.1684" in out
    assert number_after(out, r"momentum 0.9: after 50 steps w = \[.*?\], distance to the minimum") < 0.1684
    losses = re.findall(r"SGD momentum 0\.\d: training loss per epoch (\[.*?\])", out)
    plain, heavy = (ast.literal_eval(m) for m in losses)
    assert heavy[-1] < plain[-1]                              # momentum gets further in the same steps
    assert "learning rate per epoch: [0.05, 0.05, 0.025]" in out
    assert number_after(out, r"test accuracy") > 70
    rows = dict(re.findall(r"^(no cure|augmentation|weight decay|dropout|all three)\s+(train .*)$", out, re.M))
    assert len(rows) == 5
    gaps = {name: float(re.search(r"gap\s+(\S+) points", row).group(1)) for name, row in rows.items()}
    assert rows["no cure"].startswith("train 100.0%") and gaps["no cure"] > 10   # memorised, tests far lower
    assert min(gaps.values()) < gaps["no cure"]
    assert saved_pngs(tmp_path) == {"training_curves.png", "confusion.png", "augmentation.png",
                                    "overfit_no_cure.png", "overfit_augmentation.png",
                                    "overfit_weight_decay.png", "overfit_dropout.png", "overfit_all_three.png"}


def test_05_what_a_cnn_learns(tmp_path):
    out = run_tutorial("05_what_a_cnn_learns.py", tmp_path)
    assert number_after(out, r"test accuracy") > 60
    for shape in ("(1, 16, 28, 28)", "(1, 16, 14, 14)", "(1, 32, 14, 14)", "(1, 32, 7, 7)", "(1, 1568)"):
        assert f"output {shape}" in out
    by_hand = number_after(out, r"by hand ReLU\(b \+ sum\(w \* patch\)\) =")
    assert by_hand == number_after(out, r"extract gives")   # one activation, by hand
    assert len(re.findall(r"test digit +\d+ \(label \d\): pixels \[.*?\]  features \[.*?\]", out)) == 6
    pixels = number_after(out, r"pixels  :")
    features = number_after(out, r"features:")
    assert 50 < pixels <= 100 and 50 < features <= 100
    assert features > pixels                                  # the prose's claim, on this seed
    assert saved_pngs(tmp_path) == {"filters.png", "digit.png", "feature_maps_layer1.png", "feature_maps_layer2.png",
                                    "neighbours_pixels.png", "neighbours_features.png"}


def test_09_speed(tmp_path):
    import minicnn

    out = run_tutorial("09_speed.py", tmp_path)
    for shape in ("(8, 1, 28, 28)", "(8, 16, 14, 14)"):
        for name in ("reference", "numpy"):
            # section 2: im2col, col2im, unfold, fold ms and the ratio; section 3: C_out and fwd+bwd ms
            assert re.search(rf"^{re.escape(shape)}\s+{name}(\s+\d+\.\d\d){{4}}\s+\d+\.\dx$", out, re.M)
            assert re.search(rf"^{re.escape(shape)}\s+(16|32)\s+{name}\s+\d", out, re.M)
    assert number_after(out, r"all minicnn implementations agree: max relative difference") < 1e-5
    if "PyTorch agrees" in out:
        assert number_after(out, r"PyTorch agrees with minicnn: max relative difference") < 1e-4
    if not minicnn.cuda_is_available():
        assert "no CuPy row below:" in out and "skipped: no CUDA GPU" in out
    shares = [float(s) for s in re.findall(r"ms\s+(\d+\.\d)%", out)]
    assert len(shares) == 7 and abs(sum(shares) - 100) < 1      # the phases of one conv step
    assert re.search(r"^  unfold\s+\d", out, re.M) and re.search(r"^  fold\s+\d", out, re.M)
    # Winograd: the same numbers as im2col, forward and backward (float32)
    same = re.search(r"float32: max \|winograd - im2col\| / max \|im2col\|: "
                     r"y (\S+), dL/dx (\S+), dL/dW (\S+), dL/db (\S+)$", out, re.M)
    assert same and all(float(d) < 1e-4 for d in same.groups())
    # the race: tiles and the automatic choice are exact; the times are printed, never compared
    race = re.findall(r"^\((?:\d+, ){3}\d+\) -> \d+\s+(\d+)\s+(im2col|winograd)\s+(\S+)\s+(\S+)\s+(\S+)x$",
                      out, re.M)
    assert [(int(t), auto) for t, auto, *_ in race] == [(12544, "im2col"), (3136, "im2col"),
                                                        (4096, "winograd"), (4, "im2col")]
    assert all(0 < float(v) < float("inf") for row in race for v in row[2:])
    assert saved_pngs(tmp_path) == {"speed.png"}


def test_06_transfer_learning(tmp_path):
    out = run_tutorial("06_transfer_learning.py", tmp_path)
    assert "blocks (layer indices, each ending in a pool): [[0, 1, 2], [3, 4, 5], [6, 7, 8]]" in out
    assert "50 training digits 5-9 ([10, 10, 10, 10, 10] per class)" in out
    assert "frozen features (50, 512); linear classifier (5, 512)" in out
    assert "unfrozen layers of features: [6, 7, 8]" in out
    # head: Linear(512 -> 5) = 2565 weights; last block: conv 3x3 16 -> 32 = 4640 weights
    assert "group head: lr 0.02, 2565 weights" in out and "group body: lr 0.002, 4640 weights" in out
    assert "trainable 7205 of" in out and "head lr / body lr = 10" in out
    rows = dict(re.findall(r"^(from scratch|linear on frozen features|fine-tune last block)\s+accuracy (\S+)$",
                           out, re.M))
    assert len(rows) == 3 and all(0 <= float(a) <= 1 for a in rows.values())
    assert 0 <= number_after(out, r"pretrained on \d+ digits 0-4 for \d+ epochs: held-out accuracy") <= 1
    if not os.environ.get("MINICNN_VGG16_WEIGHTS") and os.environ.get("MINICNN_DOWNLOAD") != "1":
        assert "VGG16 part skipped: no weights. Set MINICNN_VGG16_WEIGHTS=" in out
    assert saved_pngs(tmp_path) == {"transfer.png"}


def test_07_localization(tmp_path):
    out = run_tutorial("07_localization.py", tmp_path)
    assert "intersection 4, union 28, IoU = 4/28 = 0.143; minicnn.localization.iou gives 0.143" in out
    assert "identical boxes: IoU 1.000; disjoint (0,0,4,4) and (5,5,2,2): IoU 0.000" in out
    assert "L2 loss by hand 0.02 / 4 = 0.005; F.mse_loss gives 0.0050" in out
    assert "train (1000, 1, 48, 48), test (100, 1, 48, 48)" in out
    assert "box head (4, 1152) trained" in out
    assert "on frozen features (1000, 1152)" in out
    for name in ("mean IoU", "accuracy at IoU >= 0.5"):
        for line in ("held-out canvases:", "baseline"):
            assert 0 <= number_after(out, line + r".*?" + re.escape(name)) <= 1
    assert 0 <= number_after(out, r"class accuracy") <= 1
    errors = re.search(r"circles: mean absolute error cx (\S+) px, cy (\S+) px, r (\S+) px", out).groups()
    assert all(0 <= float(e) < 32 for e in errors)
    assert saved_pngs(tmp_path) == {"boxes.png"}


def test_08_fully_convolutional(tmp_path):
    out = run_tutorial("08_fully_convolutional.py", tmp_path)
    assert 0 <= number_after(out, r"test accuracy") <= 1
    assert "first Linear weight (64, 256) -> conv weight (64, 16, 4, 4)" in out
    assert "second Linear weight (10, 64) -> conv weight (10, 64, 1, 1)" in out
    assert "conv weight equals the Linear weight reshaped: True" in out
    assert "original output (8, 10), fully convolutional output (8, 10, 1, 1)" in out
    assert number_after(out, r"max \|difference\| of the logits on 28x28 digits:") < 1e-5
    assert "canvas (1, 1, 28, 84) with digits [0, 1, 4]; total stride (4, 4)" in out
    assert "class map shape (1, 10, 1, 15)" in out
    cells = ast.literal_eval(re.search(r"argmax class per cell: (\[.*?\])", out).group(1))
    assert len(cells) == 15 and all(0 <= c <= 9 for c in cells)
    on_digits = ast.literal_eval(re.search(r"cells 0, 7, 14 \(the windows on the digits\): (\[.*?\])", out).group(1))
    assert on_digits == [cells[0], cells[7], cells[14]]
    crops = [float(d) for d in re.findall(r"cell +\d+ vs the original network on columns .*?difference\| (\S+)", out)]
    assert len(crops) == 3 and max(crops) < 1e-5              # no padding: a cell is exactly the crop's logits
    assert "in the corners: class map (1, 10, 8, 8)" in out
    assert saved_pngs(tmp_path) == {"class_map.png"}
