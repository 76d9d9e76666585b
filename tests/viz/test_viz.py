"""minicnn.viz: every plot returns a Figure, writes a PNG headless, and refuses wrong shapes.

The PNG check reads the file back and checks that it is not a blank canvas; the colour and
rectangle checks look inside the returned figure.
"""
from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

import minicnn  # noqa: E402
from minicnn import viz  # noqa: E402
from minicnn.train import History  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
rng = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _history() -> History:
    return History(train_loss=[2.0, 1.0, 0.5], train_acc=[0.3, 0.7, 0.9],
                   val_loss=[2.1, 1.2, 0.8], val_acc=[0.25, 0.6, 0.8])


# one valid call per function: name -> (function, positional args)
VALID_CALLS = {
    "plot_filters": (viz.plot_filters, (rng.standard_normal((6, 1, 3, 3)).astype(np.float32),)),
    "plot_filters_rgb": (viz.plot_filters, (minicnn.randn(4, 3, 5, 5, rng=0),)),      # a Tensor
    "plot_feature_maps": (viz.plot_feature_maps, (rng.random((1, 5, 7, 7)),)),
    "plot_history": (viz.plot_history, (_history(),)),
    "plot_history_dict": (viz.plot_history, ({"train_loss": [1.0, 0.5], "train_acc": [0.5, 0.8]},)),
    "plot_confusion_matrix": (viz.plot_confusion_matrix, (np.array([[5, 1], [2, 7]]),)),
    "show_images": (viz.show_images, (rng.random((5, 1, 8, 8)), [0, 1, 2, 3, 4], [0, 1, 2, 3, 3])),
    "show_images_rgb": (viz.show_images, (rng.random((2, 3, 8, 8)),)),
    "draw_boxes": (viz.draw_boxes, (rng.random((2, 16, 16)), [[1, 2, 5, 6], [0, 0, 8, 8]],
                                    [[2, 2, 5, 5], [1, 1, 8, 8]])),
    "plot_neighbours": (viz.plot_neighbours, (rng.random((2, 1, 8, 8)), rng.random((2, 3, 1, 8, 8)),
                                              rng.random((2, 3)))),
}


@pytest.mark.parametrize("name", list(VALID_CALLS))
def test_returns_a_figure_and_saves_a_png(name, tmp_path):
    fn, args = VALID_CALLS[name]
    path = tmp_path / "sub" / f"{name}.png"              # the folder is created
    fig = fn(*args, save=path)
    assert isinstance(fig, Figure)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = mpimg.imread(path)                           # (height, width, RGBA) in [0, 1]
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels[..., :3].std() > 0.02                   # something was drawn, not a blank canvas
    assert matplotlib.get_backend().lower() == "agg"      # headless


def test_without_save_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fig = viz.plot_confusion_matrix(np.eye(3, dtype=int))
    assert isinstance(fig, Figure)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("call, message", [
    (lambda: viz.plot_filters(np.zeros((3, 3, 3))), r"\(C_out, C_in, KH, KW\), got shape \(3, 3, 3\)"),
    (lambda: viz.plot_feature_maps(np.zeros((2, 4, 5, 5))), r"\(C, H, W\).*got shape \(2, 4, 5, 5\).*maps\[0\]"),
    (lambda: viz.plot_feature_maps(np.zeros((5, 5))), r"got shape \(5, 5\)"),
    (lambda: viz.plot_feature_maps(np.zeros((4, 5, 5)), max_maps=0), r"max_maps must be at least 1"),
    (lambda: viz.plot_history({"loss": [1.0]}), r"no train_loss or train_acc"),
    (lambda: viz.plot_history({"train_loss": [1.0, 2.0], "train_acc": [0.5]}), r"one value per epoch"),
    (lambda: viz.plot_history({"train_loss": [], "train_acc": []}), r"at least one epoch"),
    (lambda: viz.plot_confusion_matrix(np.zeros((3, 4), dtype=int)), r"square \(K, K\).*\(3, 4\)"),
    (lambda: viz.plot_confusion_matrix(np.eye(3, dtype=int), ["a", "b"]), r"2 class names for a 3x3"),
    (lambda: viz.show_images(np.zeros((2, 8, 8, 1))), r"got shape \(2, 8, 8, 1\).*transpose\(0, 3, 1, 2\)"),
    (lambda: viz.show_images(np.zeros((8, 8))), r"\(N, H, W\) or \(N, C, H, W\).*got shape \(8, 8\)"),
    (lambda: viz.show_images(np.zeros((3, 1, 8, 8)), [1, 2]), r"3 images but 2 labels"),
    (lambda: viz.show_images(np.zeros((2, 1, 8, 8)), None, [1, 2]), r"predictions need labels"),
    (lambda: viz.draw_boxes(np.zeros((2, 8, 8)), [[0, 0, 4, 4]]), r"true_boxes must be \(2, 4\).*\(1, 4\)"),
    (lambda: viz.draw_boxes(np.zeros((1, 8, 8)), None, [[0, 0, 4]]), r"pred_boxes must be \(1, 4\)"),
    (lambda: viz.plot_neighbours(np.zeros((2, 1, 8, 8)), np.zeros((2, 1, 8, 8))), r"neighbours must be \(Q, k\)"),
    (lambda: viz.plot_neighbours(np.zeros((2, 1, 8, 8)), np.zeros((2, 3, 1, 8, 8)), np.zeros((2, 4))),
     r"distances must be \(Q, k\) = \(2, 3\)"),
])
def test_wrong_shapes_are_refused_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_show_images_colours_wrong_predictions_red():
    labels, predictions = [3, 5, 7, 1], [3, 6, 7, 2]
    fig = viz.show_images(np.zeros((4, 1, 8, 8)), labels, predictions)
    titles = [ax.title for ax in fig.axes[:4]]
    assert [t.get_text() for t in titles] == ["3 -> 3", "5 -> 6", "7 -> 7", "1 -> 2"]
    assert [to_rgb(t.get_color()) for t in titles] == [to_rgb("green"), to_rgb("red"),
                                                        to_rgb("green"), to_rgb("red")]


def test_show_images_with_labels_only_is_black():
    fig = viz.show_images(np.zeros((2, 8, 8)), ["a", "b"])
    assert [to_rgb(ax.title.get_color()) for ax in fig.axes[:2]] == [to_rgb("black")] * 2


def _rectangles(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def test_draw_boxes_draws_one_rectangle_per_box_in_the_right_place():
    true = np.array([[1, 2, 5, 6], [0, 0, 8, 8], [3, 3, 2, 2]], dtype=np.float32)
    fig = viz.draw_boxes(np.zeros((3, 1, 16, 16)), true_boxes=true, pred_boxes=true + 1)
    for ax, box in zip(fig.axes[:3], true):
        rects = _rectangles(ax)
        assert len(rects) == 2                                            # one true, one predicted
        t, p = rects
        assert to_rgb(t.get_edgecolor()) == to_rgb("lime") and to_rgb(p.get_edgecolor()) == to_rgb("red")
        # (x, y) is the first covered pixel; its left/top edge is half a pixel before it
        assert (t.get_x(), t.get_y(), t.get_width(), t.get_height()) == (box[0] - 0.5, box[1] - 0.5, box[2], box[3])
    fig = viz.draw_boxes(np.zeros((2, 16, 16)), pred_boxes=[[1, 1, 4, 4], [2, 2, 4, 4]])
    assert [len(_rectangles(ax)) for ax in fig.axes] == [1, 1]


def test_grids_have_one_image_per_item():
    fig = viz.plot_filters(np.zeros((10, 1, 3, 3)))
    assert sum(1 for ax in fig.axes if ax.images) == 10                 # 10 filters in a 3x4 grid
    fig = viz.plot_feature_maps(np.ones((40, 4, 4)), max_maps=32)
    assert sum(1 for ax in fig.axes if ax.images) == 32
    fig = viz.plot_neighbours(np.zeros((2, 8, 8)), np.zeros((2, 4, 8, 8)))
    assert sum(1 for ax in fig.axes if ax.images) == 2 * (1 + 4)


def test_rgb_filters_are_drawn_in_colour_and_grey_filters_in_grey():
    fig = viz.plot_filters(rng.standard_normal((2, 3, 5, 5)))
    assert fig.axes[0].images[0].get_array().shape == (5, 5, 3)
    fig = viz.plot_filters(rng.standard_normal((2, 4, 5, 5)))         # mean over 4 input channels
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (5, 5)


def test_plot_history_draws_train_and_validation_curves_in_percent():
    fig = viz.plot_history(_history())
    ax_loss, ax_acc = fig.axes
    assert [line.get_label() for line in ax_loss.lines] == ["train", "validation"]
    assert list(ax_acc.lines[0].get_ydata()) == pytest.approx([30, 70, 90])
    assert list(ax_acc.lines[0].get_xdata()) == [1, 2, 3]                # epochs count from 1
    fig.canvas.draw()
    assert all(float(t).is_integer() for t in ax_acc.get_xticks())        # no epoch 1.5


def test_confusion_matrix_writes_the_counts():
    fig = viz.plot_confusion_matrix(np.array([[5, 0], [2, 7]]), ["cat", "dog"])
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["2", "5", "7"]   # zero cells stay empty
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog"]


def test_make_gallery_writes_small_pngs(tmp_path):
    """tools/make_gallery.py (fast mode) writes the README's seven pictures, each under 150 KB."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    tool = Path(__file__).resolve().parents[2] / "tools" / "make_gallery.py"
    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", **os.environ,
           "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(tool), "--out", str(tmp_path), "--fast"], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    names = {"filters", "feature_maps", "training_curves", "confusion_matrix", "misclassified",
             "augmentation", "neighbours"}
    assert {p.stem for p in tmp_path.glob("*.png")} == names
    for name in names:
        path = tmp_path / f"{name}.png"
        assert 2000 < path.stat().st_size < 150 * 1024
        assert mpimg.imread(path)[..., :3].std() > 0.02
