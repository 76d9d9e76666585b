"""``to_fully_convolutional``: the same logits at the training size, and on a larger input a
class map whose cell (i, j) is the original network applied to the crop at (i*SH, j*SW)."""
import numpy as np
import pytest

import minicnn
from minicnn import Tensor, nn
from minicnn.experiments.common import SmallVGG
from minicnn.fully_conv import to_fully_convolutional, total_stride


def digits_cnn():
    """A Sequential digits CNN with unpadded convs: 28 -> 26 -> 13 -> 10 -> 5, stride 4."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, rng=0), nn.ReLU(), nn.MaxPool2d(2),     # (N, 4, 13, 13)
        nn.Conv2d(4, 6, 4, rng=1), nn.ReLU(), nn.MaxPool2d(2),     # (N, 6, 5, 5)
        nn.Flatten(), nn.Linear(6 * 5 * 5, 16, rng=2), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(16, 10, rng=3),
    )


class VGGLike(nn.Module):
    """features / avgpool / classifier, as torchvision's VGG, with unpadded convs.

    20 -> conv3 18 -> pool 9 -> conv2 8 -> pool 4; ``avgpool`` to ``pooled`` (4: an identity,
    2: 2x2 windows).
    """

    def __init__(self, pooled=4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 3, 3, rng=0), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(3, 5, 2, rng=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((pooled, pooled))
        self.classifier = nn.Sequential(
            nn.Linear(5 * pooled * pooled, 12, rng=2), nn.ReLU(), nn.Dropout(0.5), nn.Linear(12, 7, rng=3),
        )

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def run(model, x):
    model.eval()
    with minicnn.no_grad():
        return model(Tensor(x)).numpy()


def check_class_map(model, size, extra, cells):
    """Logits at the training size, then cells of the map on a (size + extra) input vs crops."""
    fcn = to_fully_convolutional(model, (1, size, size))
    rng = np.random.default_rng(0)
    x = rng.random((2, 1, size, size), dtype=np.float32)
    logits = run(model, x)
    out = run(fcn, x)
    assert out.shape == (*logits.shape, 1, 1)
    np.testing.assert_allclose(out[:, :, 0, 0], logits, rtol=1e-5, atol=1e-6)

    sh, sw = total_stride(fcn)
    big = rng.random((2, 1, size + extra, size + 2 * extra), dtype=np.float32)
    class_map = run(fcn, big)
    assert class_map.shape == (2, logits.shape[1], extra // sh + 1, 2 * extra // sw + 1)
    for i, j in cells:
        crop = big[:, :, i * sh:i * sh + size, j * sw:j * sw + size]      # the crop cell (i, j) sees
        np.testing.assert_allclose(class_map[:, :, i, j], run(model, crop), rtol=1e-5, atol=1e-6,
                                   err_msg=f"cell {(i, j)}")
    return fcn


def test_sequential_cnn_gives_the_same_logits_and_a_class_map_of_crops():
    fcn = check_class_map(digits_cnn(), size=28, extra=8, cells=[(0, 0), (1, 2), (2, 4)])
    assert total_stride(fcn) == (4, 4)
    convs = [m for m in fcn if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(3, 3), (4, 4), (5, 5), (1, 1)]   # FC -> 5x5, FC -> 1x1
    assert not any(isinstance(m, (nn.Linear, nn.Flatten)) for m in fcn)


def test_vgg_style_model_with_an_identity_avgpool():
    fcn = check_class_map(VGGLike(pooled=4), size=20, extra=8, cells=[(0, 0), (1, 2)])
    assert not any(isinstance(m, nn.AdaptiveAvgPool2d) for m in fcn)     # identity at 20x20: dropped
    assert total_stride(fcn) == (4, 4)


def test_vgg_style_model_whose_avgpool_averages_windows():
    fcn = check_class_map(VGGLike(pooled=2), size=20, extra=16, cells=[(0, 0), (1, 2)])
    pools = [m for m in fcn if isinstance(m, nn.AvgPool2d)]
    assert len(pools) == 1 and pools[0].kernel_size == (2, 2)              # 4x4 -> 2x2 as fixed 2x2 windows
    assert total_stride(fcn) == (8, 8)


def test_padded_vgg_matches_at_the_training_size_and_maps_larger_inputs():
    # SmallVGG pads its convs (as VGG): the logits still match exactly at the training size, and a
    # larger input gives a map (cells are then close to, not equal to, the crops: see the module doc)
    model = SmallVGG(1, (4, 8), num_classes=3, input_size=16, hidden=6, rng=0)
    fcn = to_fully_convolutional(model, (1, 16, 16))
    x = np.random.default_rng(1).random((3, 1, 16, 16), dtype=np.float32)
    np.testing.assert_allclose(run(fcn, x)[:, :, 0, 0], run(model, x), rtol=1e-5, atol=1e-6)
    assert run(fcn, np.zeros((1, 1, 32, 48), np.float32)).shape == (1, 3, 5, 9)   # stride 4: (32-16)/4+1


def test_conversion_shares_conv_layers_and_leaves_the_model_unchanged():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                          nn.Linear(2 * 6 * 6, 4, rng=1))
    model.train()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    fcn = to_fully_convolutional(model, (1, 8, 8))
    assert fcn[0] is model[0] and fcn[1] is model[1]                       # shared, not copied
    assert model.training and model[1].training                           # modes restored
    for k, v in model.state_dict().items():                               # BatchNorm statistics untouched
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    np.testing.assert_array_equal(fcn[-1].weight.numpy().reshape(4, -1), model[-1].weight.numpy())


def test_conversion_errors_name_the_problem():
    with pytest.raises(ValueError, match="no Flatten"):
        to_fully_convolutional(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), (1, 8, 8))
    with pytest.raises(ValueError, match=r"unequal sizes \(5/2, 5/2"):
        to_fully_convolutional(nn.Sequential(nn.Conv2d(1, 2, 4), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                                             nn.Linear(8, 3)), (1, 8, 8))
    with pytest.raises(ValueError, match="cannot convert BatchNorm1d"):
        to_fully_convolutional(nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3)), (1, 2, 2))
