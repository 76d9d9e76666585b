"""Model builders shared by the nn tests: the same architecture from minicnn.nn or torch.nn."""
import pytest


def build_vgg_like(nn, num_classes=10):
    """A small torchvision-VGG-shaped model: features / avgpool / classifier.

    ``nn`` is ``minicnn.nn`` or ``torch.nn``: both builds have the same state-dict keys.
    """

    class VGGLike(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=2, stride=2),
                nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=2, stride=2),
            )
            self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
            self.classifier = nn.Sequential(
                nn.Linear(16 * 2 * 2, 32), nn.ReLU(True), nn.Dropout(p=0.5),
                nn.Linear(32, 32), nn.ReLU(True), nn.Dropout(p=0.5),
                nn.Linear(32, num_classes),
            )

        def forward(self, x):
            x = self.features(x)
            x = self.avgpool(x)
            x = x.flatten(1)
            return self.classifier(x)

    return VGGLike()


@pytest.fixture
def vgg_like():
    return build_vgg_like
