"""minicnn.summary: output shapes, parameter counts (the lecture's numbers) and receptive fields."""
import numpy as np
import pytest

import minicnn
from minicnn import nn
from minicnn.summary import Summary, summary

VGG16_PLAN = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG16(nn.Module):
    """torchvision's vgg16 layer list, built here (no download, no torchvision needed)."""

    def __init__(self, num_classes=1000):
        super().__init__()
        layers, c = [], 3
        for v in VGG16_PLAN:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(c, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


@pytest.fixture(scope="module")
def vgg16():
    minicnn.manual_seed(0)
    return VGG16()


def test_lecture_conv_layer_ten_5x5_filters():
    s = summary(nn.Sequential(nn.Conv2d(3, 10, kernel_size=5, padding=2)), (3, 32, 32))
    assert isinstance(s, Summary)
    row = s.row("0")
    assert row.type == "Conv2d" and row.output_shape == (10, 32, 32)
    assert row.num_params == 760 == 10 * (5 * 5 * 3) + 10
    assert row.receptive_field == (5, 5)
    assert (s.total_params, s.trainable_params, s.frozen_params) == (760, 760, 0)
    text = str(s)
    assert "0 (Conv2d)" in text and "(10, 32, 32)" in text and "Total params: 760" in text


def test_vgg16_has_138357544_parameters(vgg16):
    vgg16.features.freeze()  # fine-tuning setup: only the classifier trains
    try:
        s = summary(vgg16, (3, 32, 32))  # any input size: AdaptiveAvgPool2d(7) fixes the classifier's input
    finally:
        vgg16.features.unfreeze()
    assert s.total_params == 138_357_544 == vgg16.num_parameters()
    conv_params = 14_714_688  # VGG-16's 13 convolutions
    assert (s.frozen_params, s.trainable_params) == (conv_params, 138_357_544 - conv_params)
    assert s.row("features.0").num_params == 1_792
    assert s.row("classifier.0").num_params == 102_764_544  # 25088*4096 + 4096: 74% of the model
    assert s.row("avgpool").output_shape == (512, 7, 7)
    assert s.row("classifier.6").output_shape == (1000,)
    text = str(s)
    assert "Total params: 138,357,544" in text and "Frozen params: 14,714,688" in text
    # the receptive field of VGG-16's last conv is 196, of its last pool 212
    assert s.row("features.28").receptive_field == (196, 196)
    assert s.row("features.30").receptive_field == (212, 212)
    assert s.row("classifier.0").receptive_field is None


@pytest.mark.slow
def test_vgg16_at_224(vgg16):
    s = summary(vgg16, (3, 224, 224))
    assert s.row("features.0").output_shape == (64, 224, 224)
    assert s.row("features.30").output_shape == (512, 7, 7)
    assert s.row("classifier.6").output_shape == (1000,)


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_stack_of_3x3_convs_sees_1_plus_2L(layers):
    model = nn.Sequential(*[nn.Conv2d(1, 1, 3) for _ in range(layers)])
    s = summary(model, (1, 16, 16))
    assert s.rows[-1].receptive_field == (1 + layers * 2,) * 2  # three 3x3 convs see 7x7


def test_receptive_field_through_a_stride2_pool_uses_the_jump():
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.Conv2d(1, 1, 3), nn.MaxPool2d(2, 2),
                          nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3, dilation=2))
    s = summary(model, (1, 32, 32))
    # r_out = r_in + (K_eff - 1) * j_in, j_out = j_in * stride:
    # conv 3, relu 3, conv 5, pool 5 + 1*1 = 6 (j = 2), conv 6 + 2*2 = 10, dilated conv (K_eff 5) 10 + 4*2 = 18
    assert [r.receptive_field[0] for r in s.rows] == [3, 3, 5, 6, 10, 18]
    assert [r.jump[0] for r in s.rows] == [1, 1, 1, 2, 2, 2]


def test_summary_leaves_modes_and_batchnorm_statistics_alone():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout())
    model[2].eval()
    summary(model, (1, 8, 8))
    assert model.training and model[1].training and not model[2].training
    assert model[1].num_batches_tracked.item() == 0
    np.testing.assert_array_equal(model[1].running_mean.numpy(), np.zeros(2, np.float32))


def test_summary_of_a_custom_forward_with_a_skip_connection():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
            self.conv2 = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return x + self.conv2(self.conv1(x).relu())

    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), Residual(), nn.Conv2d(4, 2, 3, padding=1))
    s = summary(model, (1, 8, 8))
    assert [r.name for r in s.rows] == ["0", "1.conv1", "1.conv2", "2"]
    assert [r.receptive_field[0] for r in s.rows] == [3, 5, 7, 9]
    assert s.total_params == (1 * 9 * 4 + 4) + 2 * (4 * 9 * 4 + 4) + (4 * 9 * 2 + 2)


def test_a_wrong_input_shape_is_explained():
    with pytest.raises(ValueError, match=r"summary: the forward pass on an input of shape \(1, 1, 3, 32, 32\) "
                                         r"failed(.|\n)*WITHOUT the batch axis"):
        summary(nn.Sequential(nn.Conv2d(3, 4, 3)), (1, 3, 32, 32))


def test_float64_model_gets_a_float64_input():
    s = summary(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)).double(), (1, 6, 6))
    assert s.rows[-1].output_shape == (3,) and s.total_params == 20 + 99
