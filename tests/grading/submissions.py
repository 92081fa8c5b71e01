"""Building test submissions the way students hand them in: the release, with TODO regions filled."""

import json
import shutil
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def solved_submission(release_dir: Path, dest: Path) -> Path:
    """The release with every TODO region holding the instructor's solution (still under TODO markers)."""
    shutil.copytree(release_dir, dest)
    for path in dest.rglob("*.py"):
        solution = REPO / path.relative_to(dest)
        if solution.is_file() and "### BEGIN SOLUTION" in solution.read_text():
            text = solution.read_text().replace("### BEGIN SOLUTION", "### BEGIN TODO").replace("### END SOLUTION", "### END TODO")
            path.write_text(text)
    return dest


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in {path}"
    path.write_text(text.replace(old, new))


def key(prompt: str) -> str:
    return prompt.replace(" ", "_")


def expected_images(data_dir: Path, toy: bool = False) -> dict:
    """Folder -> file names the handout's submission layout asks for, from the data files (the toy world's, as
    a submission made on the tiny models has them, with `toy`)."""
    prefix = "toy_" if toy else ""
    wide = json.loads((data_dir / f"{prefix}wide_image_prompts.json").read_text())
    pairs = json.loads((data_dir / f"{prefix}ambiguous_image_prompts.json").read_text())
    wide_names = [f"{key(e['prompt'])}{suffix}.png" for e in wide.values() for suffix in ["", *[f"_{p}" for p in e["eval_pos"]]]]
    view_names = [f"{key(e[side])}.png" for e in pairs.values() for side in ("canonical_prompt", "instance_prompt")]
    folders = {"wide_images": wide_names, "ambiguous_images": view_names}
    folders.update({f"task3/{case}": view_names for case in ("eps", "x0", "xt")})
    return folders


def add_placeholder_outputs(root: Path, data_dir: Path, score: float = 0.3, toy: bool = False) -> None:
    """Every item of the checklist, with small stand-in images: enough for the unit stage, which checks
    that the items are there (the GPU stage looks at the images themselves)."""
    (root / "report.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    for folder, names in expected_images(data_dir, toy).items():
        (root / folder).mkdir(parents=True)
        for name in names:
            Image.new("RGB", (8, 8), (40, 90, 160)).save(root / folder / name)
        (root / folder / "eval.json").write_text(json.dumps({"score": score}))
