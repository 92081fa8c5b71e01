#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image. It sits in /autograder/source,
# next to source/ (the course repo) and release/. Base image: Ubuntu 22.04 (Python 3.10) or newer.
# SKIP_INSTALL=1 leaves out the installation (the kit's tests run the rest on a machine set up already).
set -euxo pipefail
KIT="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${SKIP_INSTALL:-}" ]; then
    apt-get update
    apt-get install -y --no-install-recommends python3 python3-pip
    # Pinned versions (grading/autograder/requirements.txt); torch is the CPU build from PyTorch's index,
    # not PyPI's CUDA build (gigabytes Gradescope cannot use).
    python3 -m pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu \
        -r "$KIT/source/grading/autograder/requirements.txt"
fi
cd "$KIT/source"
python3 -m grading.isolation setup  # the unprivileged user that student code runs as
python3 -m grading references "$KIT/references.safetensors"  # the solution's outputs, before any submission exists
chmod -R go-rwx "$KIT"  # the solution, rubric and references: root's alone
