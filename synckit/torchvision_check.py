"""torch and torchvision must be one build's pair: say so, with the fix, before anything hides it.

A CPU build of torch beside PyPI's Linux torchvision (built for a CUDA torch) or beside a torchvision built for
another torch release makes `import torchvision` fail with messages such as "operator torchvision::nms does not
exist", which transformers then reports as "Could not import module 'CLIPImageProcessor'": neither names torch
nor torchvision. diffusers, transformers and open_clip all import torchvision, so synckit/models.py and eval.py
import this module before them; importing it runs the check.
"""

import platform
import re
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

import torch

# The pair CI installs (.ci/run) and the README's install commands name; pyproject.toml's bounds end at it.
TESTED_TORCH = "2.14.1"
TESTED_TORCHVISION = "0.29.1"
PYTORCH_INDEX = "https://download.pytorch.org/whl"


class TorchvisionMismatchError(ImportError):
    """torchvision does not import beside the installed torch; the message says which builds and how to fix it."""


def wheel_index(system: str, cuda_available: bool, torch_cuda: str | None) -> str | None:
    """PyTorch's index for the build to keep: CUDA only where torch sees a GPU; None: PyPI's wheels."""
    if system == "Darwin":
        return None  # PyPI's macOS wheels are the CPU/MPS build
    if cuda_available and torch_cuda:
        return f"{PYTORCH_INDEX}/cu{torch_cuda.replace('.', '')}"  # "13.0" -> cu130, the build torch already is
    return f"{PYTORCH_INDEX}/cpu"


def fix_command(index_url: str | None) -> str:
    # --force-reinstall: pip would keep an installed torchvision 0.29.1 of the wrong build, as its version matches;
    # --no-deps: only the pair changes, the rest of the environment stays as pip resolved it.
    command = f"pip install --force-reinstall --no-deps torch=={TESTED_TORCH} torchvision=={TESTED_TORCHVISION}"
    return f"{command} --index-url {index_url}" if index_url else command


def mismatch_message(torch_version: str, torchvision_version: str, error: BaseException, index_url: str | None) -> str:
    return (
        f"torchvision {torchvision_version} does not import beside torch {torch_version} "
        f"({type(error).__name__}: {error}).\n"
        "torch and torchvision must be the same build (the part after '+': cpu, cu130, ...) of one release pair; "
        "diffusers, transformers and open_clip all need torchvision (transformers would only say "
        "\"Could not import module 'CLIPImageProcessor'\"). Install the pair the kit is tested with:\n"
        f"    {fix_command(index_url)}"
    )


def torchvision_version() -> str:
    """torchvision's own version string, with its build ("0.28.0+cu130"), read without importing torchvision.

    The installed metadata of PyPI's wheel says only "0.28.0", hiding that it was built for CUDA.
    """
    for folder in find_spec("torchvision").submodule_search_locations or ():
        version_file = Path(folder) / "version.py"
        found = version_file.is_file() and re.search(r"^__version__ = '([^']+)'", version_file.read_text(), re.MULTILINE)
        if found:
            return found.group(1)
    try:
        return metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        return "(version unknown)"


def check_torchvision() -> None:
    if find_spec("torchvision") is None:
        return  # not installed: not a mismatch (pip install -e . installs it)
    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError, OSError) as error:  # what a mismatched build raises, by torchvision release
        index_url = wheel_index(platform.system(), torch.cuda.is_available(), torch.version.cuda)
        raise TorchvisionMismatchError(
            mismatch_message(torch.__version__, torchvision_version(), error, index_url)
        ) from error


check_torchvision()

if __name__ == "__main__":  # python -m synckit.torchvision_check: the README's last install step
    import torchvision

    print(f"torch {torch.__version__} and torchvision {torchvision.__version__} import together "
          f"(torch.cuda.is_available(): {torch.cuda.is_available()})")
