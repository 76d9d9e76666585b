"""ONNX import and export: run and fine-tune ONNX models in minicnn, hand minicnn models to others.

    >>> import minicnn.onnx
    >>> model = minicnn.onnx.load_model("vgg16.onnx")      # a trainable minicnn Module
    >>> minicnn.onnx.export(my_model, "mine.onnx", example_input=x)   # runs in onnxruntime

ONNX (Open Neural Network Exchange) stores a network as a graph of standard operators
(Conv, Relu, MaxPool, Gemm ...) plus its weights.  PyTorch (``torch.onnx.export``) and
TensorFlow/Keras (``tf2onnx``) write it; ONNX Runtime and many others run it.

- ``load_model`` (importer.py) builds an ``OnnxModel`` (model.py) that runs the graph node
  by node with minicnn functions, one small function per operator (ops_nn.py, ops_tensor.py),
  so gradients flow to the weights.
- ``export`` (exporter.py) records which layers a forward pass of an example input calls
  and writes them as ONNX nodes (opset 17 by default).

The ``onnx`` package is needed only here: ``pip install minicnn[io]``.
"""
from __future__ import annotations

from .exporter import EXPORTABLE_LAYERS, export
from .graph import OnnxImportError, UnsupportedOpError
from .importer import load_model
from .model import OnnxModel
from .ops import SUPPORTED_OPS

__all__ = ["load_model", "export", "OnnxModel", "OnnxImportError", "UnsupportedOpError",
           "SUPPORTED_OPS", "EXPORTABLE_LAYERS"]
