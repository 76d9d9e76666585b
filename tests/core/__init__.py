"""Tests of the autograd core: Tensor, Function, the ops, gradcheck, dtypes and devices."""
