#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 22.04, Python 3.10).
# It sits in /autograder/source, next to source/ (the course repo) and release/.
set -euxo pipefail
cd "$(dirname "$0")"
apt-get update
apt-get install -y --no-install-recommends python3 python3-pip
# PyTorch's CPU build first: from PyPI, pip would fetch the CUDA build, gigabytes Gradescope cannot use.
python3 -m pip install --no-cache-dir torch torchvision --index-url https://download.pytorch.org/whl/cpu
python3 -m pip install --no-cache-dir -e ./source
