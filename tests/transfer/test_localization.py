"""Boxes, IoU, the localization models and losses, and the two dataset generators."""
import numpy as np
import pytest

from minicnn import Tensor, nn
from minicnn import localization as loc
from minicnn.data.digits import load_digits

# (box a, box b, IoU) as (x, y, w, h), worked out by hand
IOU_CASES = [
    ((0, 0, 4, 4), (0, 0, 4, 4), 1.0),          # identical
    ((0, 0, 2, 2), (5, 5, 2, 2), 0.0),          # disjoint
    ((0, 0, 4, 2), (2, 0, 4, 2), 4 / 12),       # half of each overlaps: 2x2 of 8 + 8 - 4
    ((0, 0, 4, 4), (1, 1, 2, 2), 4 / 16),       # contained: the small box's area over the large one's
    ((0, 0, 2, 2), (2, 0, 2, 2), 0.0),          # touching edges: no area in common
    ((0, 0, 2, 2), (1, 1, 2, 2), 1 / 7),        # corner overlap: 1 / (4 + 4 - 1)
    ((1, 1, 0, 3), (0, 0, 4, 4), 0.0),          # zero-area box
    ((1, 1, 0, 0), (1, 1, 0, 0), 0.0),          # two empty boxes: 0, not 0/0
    ((0, 0, -2, 2), (-2, 0, 2, 2), 0.0),        # a negative width (a bad prediction) counts as empty
]


@pytest.mark.parametrize("a, b, expected", IOU_CASES)
def test_iou_of_single_boxes(a, b, expected):
    value = loc.iou(np.array(a), np.array(b))
    assert isinstance(value, float)
    assert value == pytest.approx(expected, abs=1e-12)
    assert loc.iou(np.array(b), np.array(a)) == pytest.approx(expected, abs=1e-12)   # symmetric


def test_iou_batched_equals_the_single_values():
    a = np.array([c[0] for c in IOU_CASES], dtype=np.float32)
    b = np.array([c[1] for c in IOU_CASES], dtype=np.float32)
    np.testing.assert_allclose(loc.iou(a, b), [c[2] for c in IOU_CASES], atol=1e-12)
    # one box against many
    np.testing.assert_allclose(loc.iou(np.array([0, 0, 4, 4]), np.array([[0, 0, 4, 4], [1, 1, 2, 2]])), [1.0, 0.25])
    assert loc.mean_iou(a, b) == pytest.approx(np.mean([c[2] for c in IOU_CASES]))
    # IoU >= 0.5 only for the identical pair
    assert loc.accuracy_at_iou(a, b) == pytest.approx(1 / len(IOU_CASES))
    with pytest.raises(ValueError, match="3 boxes against 2 boxes"):
        loc.iou(a[:3], b[:2])


def test_encode_decode_round_trip_on_a_non_square_image():
    boxes = np.array([[8, 6, 16, 12], [0, 0, 64, 48]], dtype=np.float32)     # (x, y, w, h) pixels
    normalised = loc.encode_boxes(boxes, (48, 64))                            # H = 48, W = 64
    np.testing.assert_allclose(normalised, [[0.125, 0.125, 0.25, 0.25], [0, 0, 1, 1]])
    assert normalised.dtype == np.float32
    np.testing.assert_allclose(loc.decode_boxes(normalised, (48, 64)), boxes, rtol=1e-6)
    with pytest.raises(ValueError, match=r"4 numbers \(x, y, w, h\), got shape \(2, 3\)"):
        loc.encode_boxes(boxes[:, :3], (48, 64))


def test_localization_dataset_boxes_hold_all_the_ink_and_labels_match():
    data = loc.make_localization_dataset(40, canvas=64, split="test", seed=3)
    images, labels, boxes = data["images"], data["labels"], data["boxes"]
    assert images.shape == (40, 1, 64, 64) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    _, digit_labels = load_digits("test")
    np.testing.assert_array_equal(labels, digit_labels[data["indices"]])
    for image, (x, y, w, h) in zip(images[:, 0], boxes.astype(int)):
        ink_rows, ink_cols = np.flatnonzero(image.max(axis=1) > 0), np.flatnonzero(image.max(axis=0) > 0)
        # the tight box: every ink pixel inside, and ink on each of its four edges
        assert (ink_cols.min(), ink_rows.min(), ink_cols.max(), ink_rows.max()) == (x, y, x + w - 1, y + h - 1)
    sides = np.maximum(boxes[:, 2], boxes[:, 3])
    assert sides.min() >= 5 and sides.max() <= 40                            # 28 * (0.7 .. 1.4) and thinner ink
    again = loc.make_localization_dataset(40, canvas=64, split="test", seed=3)
    np.testing.assert_array_equal(again["images"], images)                   # reproducible


def test_localization_dataset_with_clutter_keeps_the_digit():
    clean = loc.make_localization_dataset(10, clutter=0, seed=5)
    cluttered = loc.make_localization_dataset(10, clutter=3, seed=5)
    np.testing.assert_array_equal(cluttered["labels"], load_digits("train")[1][cluttered["indices"]])
    for image, (x, y, w, h) in zip(cluttered["images"][:, 0], cluttered["boxes"].astype(int)):
        outside = image.copy()
        outside[y:y + h, x:x + w] = 0
        assert outside.max() <= 0.6 + 1e-6                                   # only 60%-bright fragments outside
    assert (cluttered["images"] > 0).sum() > (clean["images"] > 0).sum()
    with pytest.raises(ValueError, match="scale must be"):
        loc.make_localization_dataset(2, canvas=16, scale=(1.0, 1.2))


def test_circles_targets_describe_the_disc():
    data = loc.make_circles(20, size=32, seed=0)
    images, targets = data["images"], data["targets"] * 32                   # (cx, cy, r) in pixels
    yy, xx = np.mgrid[0:32, 0:32] + 0.5
    for image, (cx, cy, r) in zip(images[:, 0], targets):
        area = image.sum()
        assert area == pytest.approx(np.pi * r * r, rel=0.15)
        assert (xx * image).sum() / area == pytest.approx(cx, abs=0.3)       # the disc's centroid
        assert (yy * image).sum() / area == pytest.approx(cy, abs=0.3)
        assert 0 <= cx - r and cx + r <= 32 and 3.2 <= r <= 8.0


def test_multitask_loss_is_cross_entropy_plus_weighted_mse():
    rng = np.random.default_rng(0)
    scores, boxes = rng.standard_normal((4, 3)).astype(np.float32), rng.random((4, 4)).astype(np.float32)
    labels, true = np.array([0, 2, 1, 2]), rng.random((4, 4)).astype(np.float32)
    log_p = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    ce = -log_p[np.arange(4), labels].mean()
    mse = ((boxes - true) ** 2).mean()
    loss = loc.multitask_loss(Tensor(scores), Tensor(boxes), Tensor(labels), Tensor(true), box_weight=5.0)
    assert loss.item() == pytest.approx(ce + 5.0 * mse, rel=1e-5)
    d = np.abs(boxes - true)                                                 # smooth L1 with beta 0.1
    smooth = np.where(d < 0.1, 0.5 * d ** 2 / 0.1, d - 0.05).mean()
    loss = loc.multitask_loss(Tensor(scores), Tensor(boxes), Tensor(labels), Tensor(true), 2.0, "smooth_l1")
    assert loss.item() == pytest.approx(ce + 2.0 * smooth, rel=1e-5)
    with pytest.raises(ValueError, match="'l2' or 'smooth_l1'"):
        loc.multitask_loss(Tensor(scores), Tensor(boxes), Tensor(labels), Tensor(true), box_loss="l1")


def test_models_have_one_body_and_their_heads():
    body = nn.Sequential(nn.Flatten(), nn.Linear(16, 6, rng=0), nn.ReLU())
    x = Tensor(np.random.default_rng(0).random((3, 1, 4, 4), dtype=np.float32))
    assert loc.BoxRegressor(body, 6)(x).shape == (3, 4)
    model = loc.ClassifierLocalizer(body, 6, num_classes=5)
    scores, boxes = model(x)
    assert scores.shape == (3, 5) and boxes.shape == (3, 4)
    names = {name.split(".")[0] for name, _ in model.named_parameters()}
    assert names == {"body", "class_head", "box_head"}


def test_train_box_head_fits_boxes_that_are_linear_in_the_features():
    rng = np.random.default_rng(0)
    features = (5 * rng.random((400, 8))).astype(np.float32)                 # raw scale ~ 5: folded back
    w = rng.standard_normal((8, 4)).astype(np.float32) * 0.02
    boxes = 0.3 + features @ w                                               # (N, 4)
    head = loc.train_box_head(features, boxes, epochs=40, lr=0.05, seed=0)
    with_head = head(Tensor(features)).numpy()
    assert np.abs(with_head - boxes).max() < 0.01
