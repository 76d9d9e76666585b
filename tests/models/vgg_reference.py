"""Test helpers for the VGG tests: torchvision's VGG rebuilt with torch.nn, a Keras writer.

torchvision has no build for this torch here, so ``torch_vgg`` writes its VGG out with
``torch.nn`` (same module names, same layer indices): it is the oracle for keys and outputs.
torch and h5py are imported inside the functions (tests importorskip them first).
"""
from __future__ import annotations

import numpy as np

CONFIGS = {  # the paper's Table 1, as in torchvision/models/vgg.py
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


def torch_vgg(arch: str, batch_norm: bool = False, num_classes: int = 1000,
              include_top: bool = True, seed: int = 0, device: str = "cpu"):
    """torchvision's VGG written with torch.nn; BatchNorm gets non-trivial running stats.

    ``device="meta"`` builds only shapes (no memory, no time): enough for keys and counts.
    """
    import torch
    from torch import nn

    class VGG(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers, c = [], 3
            for v in CONFIGS[arch]:
                if v == "M":
                    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                else:
                    layers.append(nn.Conv2d(c, v, kernel_size=3, padding=1))
                    if batch_norm:
                        layers.append(nn.BatchNorm2d(v))
                    layers.append(nn.ReLU(inplace=True))
                    c = v
            self.features = nn.Sequential(*layers)
            if include_top:
                self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
                self.classifier = nn.Sequential(
                    nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
                    nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
                    nn.Linear(4096, num_classes))

        def forward(self, x):
            x = self.features(x)
            if not include_top:
                return x
            return self.classifier(torch.flatten(self.avgpool(x), 1))

    torch.manual_seed(seed)
    with torch.device(device):
        model = VGG()
    if device == "meta":
        return model
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):        # He init keeps activations O(1) through the stack
                m.weight.normal_(0, (2 / (9 * m.in_channels)) ** 0.5, generator=gen)
                m.bias.uniform_(-0.1, 0.1, generator=gen)
            elif isinstance(m, nn.BatchNorm2d):  # stats that are not the (0, 1) defaults
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.2, 0.2, generator=gen)
                m.running_mean.uniform_(-0.2, 0.2, generator=gen)
                m.running_var.uniform_(0.5, 2.0, generator=gen)
                m.num_batches_tracked.fill_(7)
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0, (2 / m.in_features) ** 0.5, generator=gen)
                m.bias.uniform_(-0.1, 0.1, generator=gen)
    return model.eval()


def torch_state(model) -> dict[str, np.ndarray]:
    """A torch model's state dict as NumPy arrays (sharing memory)."""
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def rel_err(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def write_keras_h5(path, model, arch: str, include_top: bool = True,
                   permute_rows: bool = True) -> None:
    """Save a torch VGG as Keras 2's ``model.save_weights`` would for Keras' own VGG.

    Layout: root attr ``layer_names``; one group per layer with attr ``weight_names``;
    datasets ``<layer>/<layer>/kernel:0`` (Conv2D HWIO, Dense (in, out)) and ``bias:0``.
    Keras flattens the 7x7x512 map channels-last, so fc1's rows go to (h, w, c) order
    (``permute_rows=False`` writes them in torch's (c, h, w) order: the silent bug).
    """
    import h5py

    layers: list[tuple[str, list[tuple[str, np.ndarray]]]] = [("input_1", [])]
    convs = [m for m in model.features if m.__class__.__name__ == "Conv2d"]
    block, index = 1, 0
    for v in CONFIGS[arch]:
        if v == "M":
            layers.append((f"block{block}_pool", []))
            block, index = block + 1, 0
            continue
        index += 1
        conv = convs.pop(0)
        kernel = conv.weight.detach().numpy().transpose(2, 3, 1, 0)     # OIHW -> HWIO
        layers.append((f"block{block}_conv{index}",
                       [("kernel:0", kernel), ("bias:0", conv.bias.detach().numpy())]))
    if include_top:
        layers.append(("flatten", []))
        fcs = [m for m in model.classifier if m.__class__.__name__ == "Linear"]
        for name, fc in zip(("fc1", "fc2", "predictions"), fcs):
            kernel = fc.weight.detach().numpy().T                          # (in, out)
            if name == "fc1" and permute_rows:
                out = kernel.shape[1]                                      # rows (c,h,w)->(h,w,c)
                kernel = kernel.reshape(512, 7, 7, out).transpose(1, 2, 0, 3).reshape(-1, out)
            layers.append((name, [("kernel:0", kernel), ("bias:0", fc.bias.detach().numpy())]))
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n, _ in layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for name, weights in layers:
            g = f.create_group(name)
            g.attrs["weight_names"] = np.array([f"{name}/{w}".encode() for w, _ in weights],
                                               dtype="S" if weights else "S1")
            for w, value in weights:
                g.create_dataset(f"{name}/{w}", data=np.ascontiguousarray(value))
