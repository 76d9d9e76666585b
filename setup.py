"""Packaging glue that pyproject.toml cannot express on its own.

The top-level ``kernels/`` folder is installed as ``minicnn.kernels`` (see
``package-dir`` in pyproject.toml); setuptools' automatic discovery would miss it,
so the package list is spelled out here.
"""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["minicnn", "minicnn.*"]) + ["minicnn.kernels"])
