"""Packaging detail pyproject.toml cannot say: the top-level ``resources/`` folder (bundled weights,
demo media, icons) is installed as the package data ``x2studio/resources`` (found at run time by
:mod:`x2studio.core.resources`)."""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["x2studio*", "training*"]) + ["x2studio.resources"],
      package_dir={"x2studio.resources": "resources"})
