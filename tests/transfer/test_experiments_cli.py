"""``minicnn transfer`` and ``minicnn localize`` in --fast mode: the pipeline runs end to end,
writes its plots and JSON, and reports sane numbers (not the full-run targets)."""
import json

import pytest

from minicnn.cli import main
from minicnn.experiments.transfer_table import METHODS, format_table

pytest.importorskip("matplotlib")


def in_unit_interval(x):
    return 0.0 <= x <= 1.0


def test_minicnn_transfer_fast_writes_a_complete_table(tmp_path, capsys):
    out, cache = tmp_path / "out", tmp_path / "cache"
    assert main(["transfer", "--fast", "--out", str(out), "--cache", str(cache)]) == 0
    for name in ("transfer_table.json", "transfer_table.png", "forgetting.png", "neighbours.png"):
        assert (out / name).stat().st_size > 0, name
    report = json.loads((out / "transfer_table.json").read_text())
    sizes = [str(s) for s in report["config"]["sizes"]]
    assert set(report["results"]) == set(METHODS)
    for method, by_size in report["results"].items():
        assert set(by_size) == set(sizes), method
        for entry in by_size.values():
            assert in_unit_interval(entry["mean"]) and entry["std"] >= 0
            assert all(in_unit_interval(r) for r in entry["runs"])
    assert in_unit_interval(report["forgetting"]["before"])
    assert set(report["forgetting"]["after"]) == {"linear", "finetune_last", "finetune_all"}
    # a frozen body cannot forget: its old-task accuracy is the pretrained one
    assert report["forgetting"]["after"]["linear"][sizes[0]]["mean"] == report["forgetting"]["before"]
    printed = capsys.readouterr().out
    assert "fine-tune everything" in printed and "catastrophic forgetting" in printed
    assert format_table(report) in printed
    assert not report["pretrained"]["cached"]

    # a second run loads the pretrained network from the cache
    assert main(["transfer", "--fast", "--no-plots", "--out", str(out), "--cache", str(cache)]) == 0
    assert json.loads((out / "transfer_table.json").read_text())["pretrained"]["cached"]


def test_minicnn_localize_fast_writes_metrics_and_plots(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["localize", "--fast", "--out", str(out), "--cache", str(tmp_path / "cache")]) == 0
    for name in ("localize.json", "boxes_frozen.png", "boxes_finetuned.png", "circles.png"):
        assert (out / name).stat().st_size > 0, name
    report = json.loads((out / "localize.json").read_text())
    for step in ("frozen_box_head", "finetuned"):
        assert set(report[step]) == {"mean_iou", "acc_iou50", "class_accuracy"}
        assert all(in_unit_interval(v) for v in report[step].values()), step
    assert in_unit_interval(report["classifier"]["class_accuracy"])
    circles = report["circles"]
    assert in_unit_interval(circles["mean_iou"])
    assert all(0 <= circles[k] < 32 for k in ("mae_cx_px", "mae_cy_px", "mae_r_px"))
    assert "mean IoU" in capsys.readouterr().out


def test_minicnn_localize_can_skip_circles_and_plots(tmp_path):
    out = tmp_path / "out"
    assert main(["localize", "--fast", "--no-plots", "--no-circles", "--out", str(out),
                 "--cache", str(tmp_path / "cache")]) == 0
    assert "circles" not in json.loads((out / "localize.json").read_text())
    assert not list(out.glob("*.png"))
