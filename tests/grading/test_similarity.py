"""Similarity: a copy with renamed variables ranks first; independent work and untouched stubs do not match."""

import csv
import re
import shutil
import textwrap
import zipfile
from pathlib import Path

import pytest

from grading.markers import BEGIN_SOLUTION, BEGIN_TODO, END_SOLUTION, END_TODO, Region, split_regions
from grading.release import release
from grading.similarity import SimilarityError, compare_submissions

REPO = Path(__file__).resolve().parents[2]
TODO_FILES = ("guidance/base_model.py", "guidance/wide_image_model.py", "guidance/ambiguous_image_model.py",
              "utils/views/view_rotate.py", "utils/views/view_inner_rotate.py")
# What the copying student renamed (and the comments they dropped) to disguise the instructor's solution.
RENAMES = {
    "windows": "wins", "rows": "row_idx", "cols": "col_idx", "crops": "patches", "canvas_index": "flat_idx",
    "channels": "n_ch", "values": "vals", "total": "acc", "count": "hits", "scheduler": "sch",
    "prev_timestep": "t_prev", "alpha_prod_t": "a_t", "alpha_prod_prev": "a_prev", "noise_direction": "direction",
    "coords": "c", "inside": "in_disk", "theta": "rad", "rotated": "out", "work": "tmp", "x0s": "clean",
}
# A student who wrote every region independently, in their own style (not required to be correct here).
OWN_WORK = {
    "guidance/base_model.py": [
        "alpha_t = alphas[timestep]\nsigma_t = sigmas[timestep]\ndenoised = xts - sigma_t * eps\nreturn denoised / alpha_t\n",
        "steps = self.scheduler.num_inference_steps\nstride = 1000 // steps\nprevious = int(timestep) - stride\n"
        "a_now = self.scheduler.alphas_cumprod[int(timestep)]\nif previous < 0:\n"
        "    a_prev = self.scheduler.final_alpha_cumprod\nelse:\n    a_prev = self.scheduler.alphas_cumprod[previous]\n"
        "eps = (xts - torch.sqrt(a_now) * pred_x0s) / torch.sqrt(1 - a_now)\n"
        "return torch.sqrt(a_prev) * pred_x0s + torch.sqrt(1 - a_prev) * eps\n",
        "merged = self.inverse_mapping(eps_preds, var_type='eps', **kwargs)\n"
        "eps_preds = self.forward_mapping(merged, bg=eps_preds, **kwargs)\n"
        "clean = self.compute_tweedie(xts, eps_preds, timestep, alphas, sigmas, **kwargs)\n"
        "x_t_1 = self.compute_prev_state(xts, clean, timestep, **kwargs)\n",
        "step = self.compute_prev_state(\n    xts, self.compute_tweedie(xts, eps_preds, timestep, alphas, sigmas, **kwargs), timestep, **kwargs)\n"
        "x_t_1 = self.forward_mapping(self.inverse_mapping(step, var_type='xt', **kwargs), bg=step, **kwargs)\n",
    ],
    "guidance/wide_image_model.py": [
        "out = []\nfor top, bottom, left, right in self.mapper:\n    out.append(z_t[0, :, top:bottom, left:right])\n"
        "return torch.stack(out)\n",
        "canvas = torch.zeros(1, x_ts.shape[1], self.latent_height, self.latent_width, dtype=x_ts.dtype, device=x_ts.device)\n"
        "weight = torch.zeros_like(canvas)\nfor window, (top, bottom, left, right) in zip(x_ts, self.mapper):\n"
        "    canvas[0, :, top:bottom, left:right] += window\n    weight[0, :, top:bottom, left:right] += 1\n"
        "return canvas / weight\n",
    ],
    "guidance/ambiguous_image_model.py": [
        "views = []\nfor v in self.views:\n    views.append(v.view(z_t[0], **kwargs))\nreturn torch.stack(views, dim=0)\n",
        "acc = 0\nfor v, x in zip(self.views, x_ts):\n    acc = acc + v.inverse_view(x, **kwargs)\n"
        "return (acc / len(self.views))[None]\n",
    ],
    "utils/views/view_rotate.py": ["return im.transpose(-2, -1).flip(-1)\n", "return im.flip(-1).transpose(-2, -1)\n"],
    "utils/views/view_inner_rotate.py": [
        "mask = torch.zeros(1, img_size, img_size)\ncenter = (img_size - 1) / 2\nfor i in range(img_size):\n"
        "    for j in range(img_size):\n        if (i - center) ** 2 + (j - center) ** 2 < r ** 2:\n"
        "            mask[0, i, j] = 1.0\nreturn mask\n",
        "turned = torch.rot90(im, k=round(angle / 90), dims=(-2, -1))\nreturn torch.where(mask.bool(), turned, im)\n",
    ],
}


def solution_bodies(path):
    text = (REPO / path).read_text()
    return ["".join(part.body) for part in split_regions(text, BEGIN_SOLUTION, END_SOLUTION, path) if isinstance(part, Region)]


def disguised(body):
    body = "".join(line for line in body.splitlines(keepends=True) if not line.strip().startswith("#"))
    for old, new in RENAMES.items():
        body = re.sub(rf"(?<!\.)\b{old}\b", new, body)  # local names only: attributes stay
    return body


def fill(release_dir, dest, bodies):
    """A submission: the release with the TODO regions of each file in `bodies` filled, indented to fit."""
    shutil.copytree(release_dir, dest, ignore=shutil.ignore_patterns("tiny_models"))  # as collect packs it
    for path, texts in bodies.items():
        parts = split_regions((release_dir / path).read_text(), BEGIN_TODO, END_TODO, path)
        regions = iter(texts)
        out = []
        for part in parts:
            if isinstance(part, Region):
                out += [part.begin, textwrap.indent(textwrap.dedent(next(regions)), part.indent), part.end]
            else:
                out.append(part)
        (dest / path).write_text("".join(out))
    return dest


def zipped(folder):
    archive = folder.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w") as zf:
        for path in folder.rglob("*"):
            zf.write(path, path.relative_to(folder))
    shutil.rmtree(folder)
    return archive


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    base = tmp_path_factory.mktemp("similarity")
    release_dir = base / "release"
    release(REPO, release_dir)
    submissions = base / "submissions"
    submissions.mkdir()
    solution = {path: solution_bodies(path) for path in TODO_FILES}
    fill(release_dir, submissions / "ana", {path: solution[path] for path in TODO_FILES})
    zipped(fill(release_dir, submissions / "ben", {path: [disguised(b) for b in solution[path]] for path in TODO_FILES}))
    fill(release_dir, submissions / "cho", OWN_WORK)
    fill(release_dir, submissions / "dan", {})  # handed in the starter code untouched
    fill(release_dir, submissions / "eun", {})
    (submissions / "fay.zip").write_bytes(b"not a zip")
    out = base / "report"
    rows, skipped = compare_submissions(submissions, release_dir, out)
    return rows, skipped, out, release_dir, submissions


def pair(rows, a, b):
    return next(row for row in rows if {row["student_a"], row["student_b"]} == {a, b})


def test_the_disguised_copy_ranks_first_and_far_above_independent_work(report):
    rows, _, _, _, _ = report
    assert {rows[0]["student_a"], rows[0]["student_b"]} == {"ana", "ben"}
    assert rows[0]["similarity"] > 0.8
    assert pair(rows, "ana", "cho")["similarity"] < 0.5 * rows[0]["similarity"]
    assert pair(rows, "ben", "cho")["similarity"] < 0.5 * rows[0]["similarity"]


def test_starter_stubs_alone_match_nothing(report):
    rows, _, _, _, _ = report
    for row in rows:
        if {row["student_a"], row["student_b"]} & {"dan", "eun"}:
            assert row["similarity"] == 0, row


def test_reports_are_written_sorted_with_every_pair_and_unreadable_submissions_listed(report):
    _, skipped, out, _, _ = report
    assert [name for name, _ in skipped] == ["fay"] and "not a readable zip" in (out / "skipped.txt").read_text()
    with open(out / "similarity.csv", newline="") as source:
        listed = list(csv.DictReader(source))
    assert len(listed) == 10  # 5 readable submissions, every pair once
    scores = [float(row["similarity"]) for row in listed]
    assert scores == sorted(scores, reverse=True)
    html = (out / "similarity.html").read_text()
    assert "ana.py" in html and "ben.py" in html
    # only the students' own code is compared: a given line of the release is not in the extracted file
    assert "class WideImageModel" not in (out / "code" / "ana.py").read_text()


def test_an_existing_report_and_the_solution_repo_are_refused(report, tmp_path):
    _, _, out, release_dir, submissions = report
    with pytest.raises(SimilarityError, match="not empty"):
        compare_submissions(submissions, release_dir, out)
    with pytest.raises(SimilarityError, match="not the solution repo"):
        compare_submissions(submissions, REPO, tmp_path / "new")
    assert not (tmp_path / "new").exists()
