"""Builders for a student's files in the layout of grading/checklist.py, with real (tiny) files: a code
tree, and image folders as main.py and eval.py leave them (submissions.py builds whole submissions)."""

import io
import json
from pathlib import Path

from PIL import Image

from grading.checklist import CODE_FILES, CODE_FOLDERS

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = REPO / "data"
PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), "red").save(buffer, format="PNG")
    return buffer.getvalue()


def write_images(folder: Path, names, score=0.29) -> Path:
    """A folder as main.py and eval.py leave it: the PNGs, eval.json and main.py's run.json."""
    folder.mkdir(parents=True)
    image = png_bytes()
    for name in names:
        (folder / name).write_bytes(image)
    (folder / "eval.json").write_text(json.dumps({"score": score}))
    (folder / "run.json").write_text("{}")
    return folder


def write_code(root: Path) -> Path:
    """A code tree: the course's data files, a file in every code folder, and a cache to be left out."""
    for folder in CODE_FOLDERS:
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    for name in ("wide_image_prompts.json", "ambiguous_image_prompts.json"):
        (root / "data" / name).write_bytes((DATA_DIR / name).read_bytes())
    for name in CODE_FILES:
        (root / name).write_text("print('hello')\n")
    (root / "guidance" / "base_model.py").write_text("class BaseModel:\n    pass\n")  # how graders find the code
    (root / "guidance" / "__pycache__").mkdir()
    (root / "guidance" / "__pycache__" / "base_model.cpython-311.pyc").write_bytes(b"cache")
    return root
