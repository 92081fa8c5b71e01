"""Reproduction check: regenerate a sample of a task's prompts with the submitted code and the fixed
settings, and compare with the images the student submitted ("failing to reproduce ... scores zero").

All regenerations of one submission run in one limited child (the release's main.py on the workspace,
so only the student's TODO regions are theirs). The comparison and the evidence image (submitted |
regenerated | difference ×4) are the grader's.
"""

import json
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from grading.isolation import StudentUser
from grading.sandbox import child_folder, copy_code, run_limited
from synckit.layout import PROMPT_FIELDS, RUNS, SUBMISSION_FOLDERS, data_file, image_name, read_prompts
from synckit.reproduction import mean_abs_difference

# RUNS (task folder -> main.py app and its extra flags; the data file is the app's own, the toy world's on the tiny
# models) is the layout's; grading/grade.py imports it from here.

# Runs each job with the release's main.py; one failing job does not stop the others.
DRIVER = """
import json, sys, traceback
sys.path.insert(0, '.')
import main
for argv in json.load(open(sys.argv[1])):
    try:
        main.main(argv)
    except BaseException:
        traceback.print_exc()
"""


@dataclass
class Comparison:
    folder: str
    file: str
    difference: float | None  # mean absolute difference on 0..1 pixels; None when it could not be compared
    message: str


def sample_entries(app: str, path: Path, count: int, seed: str) -> dict:
    """`count` entries of the app's prompt data file `path`, drawn with a seed the grader reports."""
    entries = read_prompts(app, path)
    keys = random.Random(seed).sample(sorted(entries), min(count, len(entries)))
    return {key: entries[key] for key in sorted(keys)}


def regenerate(workspace: Path, folders: list, count: int, seed: str, main_args: list, out_dir: Path,
               timeout_s: int, user: StudentUser | None, toy: bool = False) -> tuple:
    """Run the sampled jobs of every folder, as `user` on a copy of `workspace`, into `out_dir`; the samples are
    drawn from the workspace's data files, the toy world's with `toy` (a submission made on the tiny models).
    Returns ({folder: sampled entries}, the child's RunResult)."""
    with child_folder(user) as child:
        code, own = child / "code", child / "own"
        copy_code(workspace, code, user)
        jobs, sampled = [], {}
        for folder in folders:
            app, flags = RUNS[folder]
            entries = sample_entries(app, data_file(app, code / "data", toy), count, f"{seed}:{folder}")
            prompts_file = child / f"{folder.replace('/', '_')}_sampled.json"
            prompts_file.write_text(json.dumps(entries))
            sampled[folder] = entries
            jobs.append(["--app", app, "--all_prompts", "--prompts_file", str(prompts_file), *flags, *main_args,
                         "--save_top_dir", str(own / "out"), "--tag", folder.replace("/", "_")])
        (child / "jobs.json").write_text(json.dumps(jobs))
        result = run_limited([sys.executable, "-c", DRIVER, str(child / "jobs.json")], cwd=code,
                             timeout_s=timeout_s * len(jobs), memory_bytes=None, user=user, own=own)
        if (own / "out").is_dir():  # settled by run_limited: regular files and folders only
            shutil.copytree(own / "out", out_dir, dirs_exist_ok=True)
    return sampled, result


def regenerated_folder(out_dir: Path, folder: str) -> Path:
    app = RUNS[folder][0]
    return out_dir / folder.replace("/", "_") / SUBMISSION_FOLDERS[app]  # main.py --all_prompts writes tag/<its folder>


def compared_files(folder: str, entries: dict) -> list:
    """The images a job makes that are compared: each panorama, or each view of an anagram."""
    fields = PROMPT_FIELDS[RUNS[folder][0]]
    return [image_name(entry[field]) for entry in entries.values() for field in fields]


def compare(submitted: Path, regenerated: Path, evidence: Path) -> tuple:
    """(mean absolute difference or None, message); writes the evidence strip."""
    if not submitted.is_file():
        return None, "not in the submission"
    if not regenerated.is_file():
        return None, "the submitted code did not produce it (see the run's output)"
    try:
        with Image.open(submitted) as image:
            ours = image.convert("RGB")
    except (OSError, Image.DecompressionBombError) as err:
        return None, f"the submitted file is not a readable image ({err})"
    try:
        with Image.open(regenerated) as image:
            theirs = image.convert("RGB")
    except (OSError, Image.DecompressionBombError) as err:
        return None, f"the regenerated file is not a readable image ({err})"
    if ours.size != theirs.size:
        return None, f"the submitted image is {ours.size[0]}×{ours.size[1]}, the regenerated one {theirs.size[0]}×{theirs.size[1]}"
    difference = mean_abs_difference(ours, theirs)
    a = np.asarray(ours, dtype=np.float32) / 255
    b = np.asarray(theirs, dtype=np.float32) / 255
    diff_image = Image.fromarray((np.clip(np.abs(a - b) * 4, 0, 1) * 255).astype(np.uint8))
    strip = Image.new("RGB", (ours.width * 3, ours.height))
    for index, image in enumerate((ours, theirs, diff_image)):
        strip.paste(image, (index * ours.width, 0))
    evidence.parent.mkdir(parents=True, exist_ok=True)
    strip.save(evidence)
    return difference, f"mean absolute difference {difference:.4f} (evidence: {evidence.name})"


def check_reproduction(root: Path, out_dir: Path, folder: str, entries: dict, evidence_dir: Path) -> list:
    return [
        Comparison(folder, name, *compare(root / folder / name, regenerated_folder(out_dir, folder) / name,
                                          evidence_dir / f"{folder.replace('/', '_')}__{name}"))
        for name in compared_files(folder, entries)
    ]
