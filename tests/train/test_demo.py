"""`minicnn demo` end to end (one epoch): metrics, plots, and the CLI's report."""
from __future__ import annotations

import json

from minicnn.cli import main


def test_demo_one_epoch_writes_metrics_and_all_plots(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "held-out accuracy:" in printed and "on 1000 digits after 1 epochs" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.85 < metrics["test_accuracy"] <= 1.0      # one epoch already learns the digits
    assert len(metrics["history"]["val_acc"]) == 1
    for name in ("history.png", "filters.png", "confusion.png", "misclassified.png"):
        assert (out / name).stat().st_size > 5000, name
