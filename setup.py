"""edn: Everybody Dance Now pose transfer. `pip install -e .` (the Makefile does it)."""
from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension
from setuptools import find_packages, setup

here = Path(__file__).parent
requirements = [
    line.split("#")[0].strip()
    for line in (here / "requirements.txt").read_text().splitlines()
    if line.split("#")[0].strip() and not line.startswith("pytest")
]

setup(
    name="edn",
    version="0.1.0",
    description="Everybody Dance Now: pose-transfer video synthesis and MMD motion export",
    long_description=(here / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["edn", "edn.*", "pose_detector", "pose_detector.*"]),
    package_data={"edn.vmd": ["preview.html"]},  # the preview page's template
    install_requires=requirements,
    # The C++ PAF grouping (plain C++17 with a pybind11 binding; pybind11 is a build-time
    # requirement only, see pyproject.toml). Without it pose_detector groups in NumPy.
    ext_modules=[Pybind11Extension("pose_detector._pafprocess",
                                   ["pose_detector/openpose/pafprocess.cpp"],
                                   cxx_std=17,
                                   # no fused multiply-adds: results equal the NumPy reference's
                                   extra_compile_args=["-O3", "-ffp-contract=off"])],
)
