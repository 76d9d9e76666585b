"""Classifiers on frozen features (softmax regression, linear SVM, hinge loss, nearest
neighbours) and the fine-tuning helpers (replace_head, freezing, blocks, parameter groups)."""
import numpy as np
import pytest

import minicnn
from minicnn import Tensor, nn, optim, transfer
from minicnn.experiments.common import SmallVGG


# ---------------------------------------------------------------- hinge loss
def test_hinge_loss_equals_the_hand_computed_value():
    # CS231n's example: three images, three classes (cat, car, frog), correct classes on the diagonal
    scores = Tensor(np.array([[3.2, 5.1, -1.7],
                              [1.3, 4.9, 2.0],
                              [2.2, 2.5, -3.1]], dtype=np.float32))
    labels = np.array([0, 1, 2])
    # cat:  max(0, 5.1 - 3.2 + 1) + max(0, -1.7 - 3.2 + 1) = 2.9 + 0
    # car:  max(0, 1.3 - 4.9 + 1) + max(0, 2.0 - 4.9 + 1) = 0
    # frog: max(0, 2.2 + 3.1 + 1) + max(0, 2.5 + 3.1 + 1) = 6.3 + 6.6 = 12.9
    loss = transfer.multiclass_hinge_loss(scores, labels)
    assert loss.dtype == np.float32
    assert loss.item() == pytest.approx((2.9 + 0 + 12.9) / 3, rel=1e-6)
    assert transfer.multiclass_hinge_loss(scores, Tensor(labels), margin=0.0).item() == pytest.approx((1.9 + 0 + 5.3 + 5.6) / 3, rel=1e-5)


def test_hinge_loss_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((6, 4))                                    # float64; kinks have measure zero
    labels = rng.integers(0, 4, 6)
    minicnn.gradcheck(lambda s: transfer.multiclass_hinge_loss(s, labels), [scores])


def test_hinge_loss_gradient_counts_violated_margins():
    s = Tensor(np.array([[0.0, 0.5, -2.0]], dtype=np.float32), requires_grad=True)
    transfer.multiclass_hinge_loss(s, np.array([0])).backward()
    # only class 1 is within the margin: +1 for s_1, -1 for the correct score s_0
    np.testing.assert_array_equal(s.grad.numpy(), [[-1.0, 1.0, 0.0]])


def test_hinge_loss_rejects_bad_labels():
    with pytest.raises(ValueError, match="labels must be in 0..2"):
        transfer.multiclass_hinge_loss(Tensor(np.zeros((2, 3), np.float32)), np.array([0, 3]))


# ---------------------------------------------------------------- linear heads, neighbours
def blobs(n_per_class=30, seed=0):
    """Three well separated Gaussian blobs in 2-D: a linearly separable problem."""
    rng = np.random.default_rng(seed)
    centres = np.array([[4.0, 0.0], [-2.0, 3.5], [-2.0, -3.5]])
    x = np.concatenate([c + 0.5 * rng.standard_normal((n_per_class, 2)) for c in centres]).astype(np.float32)
    return x, np.repeat(np.arange(3), n_per_class)


@pytest.mark.parametrize("train", [transfer.train_softmax_regression, transfer.train_linear_svm])
def test_linear_heads_learn_a_separable_problem(train):
    x, y = blobs(seed=0)
    head = train(x, y, num_classes=3, epochs=30, seed=0)
    assert isinstance(head, nn.Linear) and head.weight.shape == (3, 2)
    assert transfer.accuracy(head, x, y) == 1.0
    x_new, y_new = blobs(seed=1)                                            # fresh points
    assert transfer.accuracy(head, x_new, y_new) == 1.0


def test_nearest_neighbours_equals_brute_force():
    rng = np.random.default_rng(0)
    queries, bank = rng.standard_normal((7, 5)).astype(np.float32), rng.standard_normal((30, 5)).astype(np.float32)
    idx, dist = transfer.nearest_neighbours(queries, bank, k=4)
    brute = np.array([[np.linalg.norm(q.astype(np.float64) - b) for b in bank] for q in queries])   # (7, 30)
    np.testing.assert_array_equal(idx, np.argsort(brute, axis=1)[:, :4])
    np.testing.assert_allclose(dist, np.sort(brute, axis=1)[:, :4], rtol=1e-9, atol=1e-12)
    same, d0 = transfer.nearest_neighbours(bank[:3], bank, k=1)             # a point is its own neighbour
    np.testing.assert_array_equal(same[:, 0], [0, 1, 2])
    np.testing.assert_allclose(d0, 0, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(Q, D\) and \(M, D\)"):
        transfer.nearest_neighbours(queries, bank[:, :3])


# ---------------------------------------------------------------- replacing the head, freezing
def vgg_like(num_classes=5):
    # 4 blocks (conv-ReLU-pool each) on 16x16 inputs: features indices 0..11
    return SmallVGG(1, (4, 4, 6, 6), num_classes, input_size=16, hidden=8, rng=0)


def test_replace_head_swaps_the_last_linear_or_the_whole_classifier():
    model = vgg_like()
    old = model.classifier[3]
    new = transfer.replace_head(model, 7, rng=0)                           # default: the last Linear
    assert model.classifier[3] is new and new is not old
    assert (new.in_features, new.out_features) == (8, 7)
    assert model(minicnn.randn(2, 1, 16, 16)).shape == (2, 7)

    whole = transfer.replace_head(model, 3, "classifier")                 # chop off the whole classifier
    assert model.classifier is whole and (whole.in_features, whole.out_features) == (6 * 1 * 1, 3)
    assert model(minicnn.randn(2, 1, 16, 16)).shape == (2, 3)
    with pytest.raises(TypeError, match="features.1 is a ReLU"):
        transfer.replace_head(model, 3, "features.1")


def test_frozen_layers_get_no_gradient_and_no_update():
    model = vgg_like()
    model.features.freeze()
    transfer.replace_head(model, 3, rng=0)
    before = {name: p.numpy().copy() for name, p in model.named_parameters()}
    opt = optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9, weight_decay=1e-2)
    x = minicnn.randn(4, 1, 16, 16, rng=np.random.default_rng(0))
    loss = nn.functional.cross_entropy(model(x), Tensor(np.array([0, 1, 2, 0])))
    opt.zero_grad()
    loss.backward()
    opt.step()
    for name, p in model.named_parameters():
        if name.startswith("features."):
            assert p.grad is None, name
            np.testing.assert_array_equal(p.numpy(), before[name], err_msg=name)
        else:
            assert p.grad is not None, name
            assert not np.array_equal(p.numpy(), before[name]), name


def test_feature_blocks_end_at_pooling_layers():
    model = vgg_like()
    assert transfer.feature_blocks(model.features) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]


def test_feature_blocks_of_vgg16_are_its_five_stages():
    vgg = pytest.importorskip("minicnn.models.vgg")
    blocks = transfer.feature_blocks(vgg.make_layers(vgg.CONFIGS["D"]))
    assert [b[-1] for b in blocks] == [4, 9, 16, 23, 30]                   # the five max pools
    assert blocks[-1] == list(range(24, 31))                                # features.24 ... features.30


@pytest.mark.parametrize("k", [0, 1, 2, 4])
def test_unfreeze_last_blocks_unfreezes_exactly_the_last_k_blocks(k):
    model = vgg_like()
    model.classifier.freeze()
    unfrozen = transfer.unfreeze_last_blocks(model, k)
    conv_blocks = [0, 3, 6, 9]                                              # the conv of each block
    expected = {f"features.{i}.{w}" for i in conv_blocks[4 - k:] for w in ("weight", "bias")}
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == expected
    assert unfrozen == list(range(12 - 3 * k, 12))


def test_unfreeze_last_blocks_refreezes_and_checks_k():
    model = vgg_like()
    transfer.unfreeze_last_blocks(model, 1)
    transfer.unfreeze_last_blocks(model, 0)                                 # freezes everything again
    assert not any(p.requires_grad for p in model.features.parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())      # the head is left alone
    with pytest.raises(ValueError, match="has 4 blocks, so k must be in 0..4, got 5"):
        transfer.unfreeze_last_blocks(model, 5)


def ids(params):
    return {id(p) for p in params}


def test_param_groups_give_the_head_and_the_body_their_learning_rates():
    model = vgg_like()
    transfer.unfreeze_last_blocks(model, 1)                                 # features.9 trains, 0-6 frozen
    groups = transfer.param_groups(model, head_lr=0.1, body_lr=0.01, head="classifier.3")
    assert [(g["name"], g["lr"]) for g in groups] == [("head", 0.1), ("body", 0.01)]
    assert ids(groups[0]["params"]) == ids(model.classifier[3].parameters())
    assert ids(groups[1]["params"]) == ids([*model.features[9].parameters(), *model.classifier[0].parameters()])
    opt = optim.SGD(groups, lr=0.5)                                         # the groups' lrs win
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    with pytest.raises(ValueError, match="no trainable parameter is under 'head'"):
        transfer.param_groups(model, 0.1, 0.01, head="head")


def test_per_block_param_groups_shrink_the_learning_rate_with_depth():
    model = vgg_like()
    groups = transfer.per_block_param_groups(model, base_lr=0.08, decay=0.5)
    assert [g["lr"] for g in groups] == [0.08, 0.04, 0.02, 0.01, 0.005]
    assert ids(groups[0]["params"]) == ids(model.classifier.parameters())
    for group, conv in zip(groups[1:], [9, 6, 3, 0]):                       # last block first
        assert ids(group["params"]) == ids(model.features[conv].parameters())
    model.features[0].freeze()                                              # a frozen block gets no group
    assert len(transfer.per_block_param_groups(model, 0.08)) == 4
