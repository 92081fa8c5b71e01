"""The unit stage on whole submissions: the solution, the release, one broken submission per failure kind
and tampered ones, each with the score the rubric promises, and a valid results.json every time.

Expected scores are worked out here from the rubric's table by hand (which checks each fault must fail),
not by asking the grader.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from submissions import REPO, add_placeholder_outputs, edit, solved_submission

from grading.grade import grade
from grading.release import release
from grading.results import schema_problems
from grading.rubric import RUBRIC_PATH

pytestmark = pytest.mark.slow

# Every unit check by task; the points of a task's unit share are split evenly between its checks.
CHECKS = {
    1: ["tweedie_sd", "tweedie_sd_hidden", "prev_state_sd", "prev_state_sd_last", "prev_state_sd_20_steps",
        "wide_forward", "wide_inverse", "wide_other_geometry"],
    2: ["rotate_view", "rotate_inverse_view", "rotate_view_hidden", "ambiguous_forward", "ambiguous_inverse",
        "ambiguous_three_views", "prev_state_if_every_step", "tweedie_if"],
    3: ["circle_mask", "circle_mask_hidden", "inner_rotate", "inner_rotate_hidden", "inner_rotate_other_angles",
        "one_step_eps", "one_step_xt", "one_step_wide"],
    4: ["circular_forward", "circular_inverse", "circular_forward_other_geometry", "circular_inverse_other_geometry"],
    5: ["cone_weights_tiny", "cone_weights_other_sizes", "vcf_tiny", "gvcf_other_geometry", "slerp_tiny",
        "slerp_other_alphas"],
    6: ["syncdiffusion_step_tiny", "syncdiffusion_step_chunks"],
    7: ["region_fusion_tiny", "region_fusion_no_background", "bootstrap_tiny", "bootstrap_other_level"],
    8: ["cosine_schedules_sd", "cosine_schedules_other_exponents", "dilated_sampling_s2", "dilated_sampling_s3_s4",
        "undo_dilated_s2", "undo_dilated_s3_s4", "shuffle_tiny", "shuffle_batch_of_9", "unshuffle_tiny",
        "unshuffle_batch_of_9", "window_words_tiny", "window_words_random"],
}
UNIT_POINTS = {1: 10 * 0.5, 2: 10 * 0.5, 3: 5 * 0.5, 4: 0, 5: 0, 6: 0, 7: 0, 8: 0}  # extensions are worth 0 until an instructor assigns them
PROBE_TIMEOUT_S = 10  # CPU seconds: generous, and the endless-loop fault costs one of them


def expected(failed=(), factors=None) -> float:
    factors = factors or {}
    return sum(UNIT_POINTS[task] * factors.get(task, 1.0) * sum(name not in failed for name in names) / len(names)
               for task, names in CHECKS.items())


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("grade") / "release"
    release(REPO, out)
    return out


@pytest.fixture(scope="module")
def rubric(tmp_path_factory):
    """The course rubric with a short per-check time limit, so the endless-loop submission is quick."""
    path = tmp_path_factory.mktemp("rubric") / "rubric.toml"
    text = RUBRIC_PATH.read_text()
    assert "probe_cpu_s = 60" in text
    path.write_text(text.replace("probe_cpu_s = 60", f"probe_cpu_s = {PROBE_TIMEOUT_S}"))
    return path


@pytest.fixture
def solved(release_dir, tmp_path):
    submission = solved_submission(release_dir, tmp_path / "submission")
    add_placeholder_outputs(submission, release_dir / "data")
    return submission


def run(submission, release_dir, rubric, tmp_path) -> dict:
    results = tmp_path / "out" / "results.json"
    document = grade(submission, results, stage="unit", release_dir=release_dir, rubric_path=rubric)
    written = json.loads(results.read_text())
    assert written == document
    assert schema_problems(written) == []
    return written


def by_name(document) -> dict:
    return {test["name"]: test for test in document["tests"]}


def failed_checks(document) -> set:
    return {name for name in sum(CHECKS.values(), []) if any(
        test["status"] == "failed" and test["name"].endswith(what(name)) for test in document["tests"])}


def what(name) -> str:
    from grading.probes import PROBES
    return PROBES[name].what


def test_the_rubric_checks_are_the_ones_this_test_expects():
    from grading.probes import PROBES
    assert {name: spec.task for name, spec in PROBES.items()} == {n: t for t, names in CHECKS.items() for n in names}


def test_the_solution_gets_full_marks_on_a_busy_machine(solved, release_dir, rubric, tmp_path):
    """Limits are CPU time: a spinning process per core slows the grade down, and takes no point."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        document = run(solved, release_dir, rubric, tmp_path)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert document["score"] == pytest.approx(12.5, abs=1e-3)
    assert all(test["status"] == "passed" for test in document["tests"]), [t for t in document["tests"] if t["status"] != "passed"]
    hidden = [test for test in document["tests"] if " hidden check " in test["name"]]
    assert hidden and all(test["visibility"] == "after_published" for test in hidden)


def test_the_release_scores_zero_and_says_not_implemented(release_dir, rubric, tmp_path):
    submission = tmp_path / "starter"
    shutil.copytree(release_dir, submission)
    add_placeholder_outputs(submission, release_dir / "data")
    document = run(submission, release_dir, rubric, tmp_path)
    assert document["score"] == 0
    unit = [test for test in document["tests"] if " check · " in test["name"]]
    assert len(unit) == sum(map(len, CHECKS.values()))
    assert all("not implemented yet: TODO: implement" in test["output"] for test in unit), unit[0]["output"]


EPS_BRANCH = """\
            eps_preds = self.forward_mapping(self.inverse_mapping(eps_preds, var_type="eps", **kwargs), bg=eps_preds, **kwargs)
            x0s = self.compute_tweedie(xts, eps_preds, timestep, alphas, sigmas, **kwargs)
            x_t_1 = self.compute_prev_state(xts, x0s, timestep, **kwargs)
"""
XT_BRANCH = """\
            x0s = self.compute_tweedie(xts, eps_preds, timestep, alphas, sigmas, **kwargs)
            x_t_1 = self.compute_prev_state(xts, x0s, timestep, **kwargs)
            x_t_1 = self.forward_mapping(self.inverse_mapping(x_t_1, var_type="xt", **kwargs), bg=x_t_1, **kwargs)
"""
X0_LINES = """\
            x0s = self.compute_tweedie(xts, eps_preds, timestep, alphas, sigmas, **kwargs)
            x0s = self.forward_mapping(self.inverse_mapping(x0s, var_type="tweedie", **kwargs), bg=x0s, **kwargs)
            x_t_1 = self.compute_prev_state(xts, x0s, timestep, **kwargs)
"""


# One fault per kind, put into one TODO function of the solution; the checks that call it must fail and
# no other (faults of different tasks are graded together, `fault_batches`). Each entry: file, text replaced,
# replacement, checks that fail.
TWEEDIE = {"tweedie_sd", "tweedie_sd_hidden", "tweedie_if"}
PREV_STATE = {"prev_state_sd", "prev_state_sd_last", "prev_state_sd_20_steps", "prev_state_if_every_step"}
# One mistake, one charge: the probes of other functions use the course's own versions of the functions they
# call (grading/probes.py), so each fault below costs the checks of the function that holds it, and no other.
FAULTS = {
    "endless_loop": ("guidance/base_model.py", "        return (xts - sigmas[timestep] * eps) / alphas[timestep]",
                     "        while True:\n            pass", TWEEDIE),
    "sys_exit": ("utils/views/view_rotate.py", "        return torch.rot90(im, k=1, dims=(-2, -1))",
                 "        import sys\n        sys.exit(0)", {"rotate_inverse_view", "rotate_view_hidden"}),
    "os_exit": ("guidance/wide_image_model.py", "        return crops.permute(1, 0, 2, 3)",
                "        import os\n        os._exit(3)", {"wide_forward", "wide_other_geometry"}),
    "print_flood": ("guidance/wide_image_model.py", "        return (total / count).reshape(",
                    "        for _ in range(200):\n            print('x' * 1_000_000)\n        return (total / count).reshape(",
                    {"wide_inverse", "wide_other_geometry"}),
    # a file that does not compile takes down every check that imports it: utils.views imports every view
    "import_error": ("utils/views/view_rotate.py", "        return torch.rot90(im, k=-1, dims=(-2, -1))",
                     "        return torch.rot90(im, k=-1, dims=(-2, -1)",
                     set(CHECKS[2]) | {"one_step_eps", "one_step_xt"}),  # the inner rotation's own file still imports
    "nan": ("guidance/base_model.py", "        return alpha_prod_prev.sqrt() * pred_x0s + noise_direction",
            "        return alpha_prod_prev.sqrt() * pred_x0s + noise_direction * float('nan')", PREV_STATE),
    "wrong_shape": ("guidance/ambiguous_image_model.py",
                    "        return torch.stack([view.view(z_t[0], **kwargs) for view in self.views])",
                    "        return torch.cat([view.view(z_t[0], **kwargs) for view in self.views])",
                    {"ambiguous_forward", "ambiguous_three_views"}),
    "no_keepdim": ("guidance/ambiguous_image_model.py", ".mean(0, keepdim=True)", ".mean(0)",
                   {"ambiguous_inverse", "ambiguous_three_views"}),
    "wrong_rotation": ("utils/views/view_rotate.py", "        return torch.rot90(im, k=-1, dims=(-2, -1))",
                       "        return torch.rot90(im, k=1, dims=(-2, -1))", {"rotate_view", "rotate_view_hidden"}),
    # Tweedie without the division by √ᾱ_t: the Tweedie checks only, not the sampling steps that call it
    "wrong_tweedie": ("guidance/base_model.py", "        return (xts - sigmas[timestep] * eps) / alphas[timestep]",
                      "        return xts - sigmas[timestep] * eps", TWEEDIE),
    # pixel corners instead of pixel centres: the mask checks only, not the rotations that take a mask
    "mask_off_by_half": ("utils/views/view_inner_rotate.py", "torch.arange(img_size, dtype=torch.float64) - img_size / 2 + 0.5",
                         "torch.arange(img_size, dtype=torch.float64) - img_size / 2", {"circle_mask", "circle_mask_hidden"}),
    # Mistakes that the public tests catch and the grader once missed (every one passed before the probes below).
    # DeepFloyd's 30-step schedule ends with t = 33 -> 0: `prev > 0` takes final_alpha_cumprod there instead of ᾱ_0.
    "prev_gt_zero": ("guidance/base_model.py", "if prev_timestep >= 0 else", "if prev_timestep > 0 else",
                     {"prev_state_if_every_step"}),
    # torch.rot90 is only right for quarter turns
    "rot90_inner": ("utils/views/view_inner_rotate.py", "    _, H, W = im.shape\n    theta = math.radians(angle)",
                    "    rotated = torch.rot90(im, k=round(angle / 90), dims=(-2, -1))\n"
                    "    return im * (1 - mask.to(im.dtype)) + rotated * mask.to(im.dtype)",
                    {"inner_rotate_other_angles"}),
    "no_bilinear": ("utils/views/view_inner_rotate.py", "    if interpolate:", "    if False:", {"inner_rotate_other_angles"}),
    # a branch that synchronizes x̂0 (the given case) instead of its own quantity
    "eps_does_x0": ("guidance/base_model.py", EPS_BRANCH, X0_LINES, {"one_step_eps", "one_step_wide"}),
    "xt_does_x0": ("guidance/base_model.py", XT_BRANCH, X0_LINES, {"one_step_xt", "one_step_wide"}),
    # 360° windows: columns wrapped one short (column W − 1 never read), or pasted back past the right edge
    "circular_off_by_one": ("guidance/circular_wide_image_model.py", "device=z_t.device)) % self.latent_width",
                            "device=z_t.device)) % (self.latent_width - 1)",
                            {"circular_forward", "circular_forward_other_geometry"}),
    "circular_no_wrap": ("guidance/circular_wide_image_model.py",
                         "torch.arange(x_ts.shape[-1], device=x_ts.device)) % self.latent_width",
                         "torch.arange(x_ts.shape[-1], device=x_ts.device))",
                            {"circular_inverse", "circular_inverse_other_geometry"}),
    # GVCFDiffusion: the cone centred half a pixel off (the reference's c = size // 2), the noise averaged by the
    # weights' sum (variance σ²/n, what VCF corrects), and a straight line for the slerp
    "cone_off_centre": ("guidance/fusion.py", "    centre = (size - 1) / 2", "    centre = size // 2",
                        {"cone_weights_tiny", "cone_weights_other_sizes"}),
    "vcf_naive_noise": ("guidance/fusion.py", "sum_windows(weights.square()).sqrt()", "sum_windows(weights)",
                        {"vcf_tiny", "gvcf_other_geometry"}),
    "slerp_is_lerp": ("guidance/fusion.py",
                      "return (torch.sin((1 - alpha) * theta) * z1 + torch.sin(alpha * theta) * z2) / torch.sin(theta)",
                      "return (1 - alpha) * z1 + alpha * z2", {"slerp_tiny", "slerp_other_alphas"}),
    # SyncDiffusion: the anchor moved with the others, and the gradient's mean over a chunk for each window's own
    "sync_moves_anchor": ("guidance/syncdiffusion.py", "range(len(xts)) if index != anchor]", "range(len(xts))]",
                          {"syncdiffusion_step_tiny", "syncdiffusion_step_chunks"}),
    "sync_mean_of_chunk": ("guidance/syncdiffusion.py", "loss = loss_fn(image_of(windows), anchor_image).sum()",
                           "loss = loss_fn(image_of(windows), anchor_image).mean()",
                           {"syncdiffusion_step_tiny", "syncdiffusion_step_chunks"}),
    # Region prompts: the masks left out of the fusion (a plain mean of the prompts), and the background not noised
    "fusion_ignores_masks": ("guidance/regions.py", "    weights = masks.expand_as(instances)\n",
                             "    weights = torch.ones_like(instances)\n",
                             {"region_fusion_tiny", "region_fusion_no_background"}),
    "bootstrap_clean_background": ("guidance/regions.py", "(alpha * backgrounds + sigma * noise)", "backgrounds",
                                   {"bootstrap_tiny", "bootstrap_other_level"}),
    # Higher resolution: the sub-latents in column-offset order, the un-shuffle shuffling a second time, the cosine
    # factor of t/T (1 at t = 0: the schedules run backwards), and a share of exactly c left out (> for ≥: only the
    # public check has such a share)
    "dilated_order_transposed": ("guidance/highres.py", "for row in range(scale) for column in range(scale)])",
                                 "for column in range(scale) for row in range(scale)])",
                                 {"dilated_sampling_s2", "dilated_sampling_s3_s4"}),
    "unshuffle_shuffles_again": ("guidance/highres.py",
                                 "    return torch.empty_like(shuffled).scatter_(0, permutation, shuffled)",
                                 "    return shuffled.gather(0, permutation)", {"unshuffle_tiny", "unshuffle_batch_of_9"}),
    "schedule_of_t_over_T": ("guidance/highres.py", "(num_train_timesteps - float(timestep)) / num_train_timesteps",
                             "float(timestep) / num_train_timesteps",
                             {"cosine_schedules_sd", "cosine_schedules_other_exponents"}),
    "words_strictly_above_c": ("guidance/highres.py", "    return shares >= threshold", "    return shares > threshold",
                               {"window_words_tiny"}),
}
def fault_batches(faults: dict) -> list:
    """The faults put together into one submission each, so that the grader runs once per batch rather than once per
    fault (29 runs took most of CI's time). Two faults share a batch only if they charge no task in common and edit
    different text: a fault that also broke another check of its own task, or of a task it charges, still shows.
    Greedy in name order, so the batches are the same on every run."""
    task_of = {name: task for task, names in CHECKS.items() for name in names}

    def tasks(fault):
        return {task_of[check] for check in faults[fault][3]}

    def span(fault):
        path, old, _, _ = faults[fault]
        start = (REPO / path).read_text().index(old)
        return path, start, start + len(old)

    def apart(a, b):
        (path_a, start_a, end_a), (path_b, start_b, end_b) = span(a), span(b)
        return not tasks(a) & tasks(b) and (path_a != path_b or end_a <= start_b or end_b <= start_a)

    batches = []
    for fault in sorted(faults):
        batch = next((batch for batch in batches if all(apart(fault, other) for other in batch)), None)
        if batch is None:
            batches.append(batch := [])
        batch.append(fault)
    return batches


# What the check that calls the broken function directly tells the student.
MESSAGES = {
    "endless_loop": ("tweedie_sd", f"did not finish within {PROBE_TIMEOUT_S} s"),
    "sys_exit": ("rotate_inverse_view", "called exit(0)"),
    "os_exit": ("wide_forward", "exited with code 3"),
    "print_flood": ("wide_inverse", "file-size limit"),
    "import_error": ("rotate_view", "SyntaxError"),
    "nan": ("prev_state_sd", "NaN"),
    "wrong_shape": ("ambiguous_forward", "returned shape [6, 64, 64], expected [2, 3, 64, 64]"),
    "no_keepdim": ("ambiguous_inverse", "returned shape [3, 64, 64], expected [1, 3, 64, 64]"),
    "wrong_tweedie": ("tweedie_sd", "values differ"),
    "mask_off_by_half": ("circle_mask", "values differ"),
    "wrong_rotation": ("rotate_view", "values differ"),
    "prev_gt_zero": ("prev_state_if_every_step", "values differ"),
    "rot90_inner": ("inner_rotate_other_angles", "values differ"),
    "no_bilinear": ("inner_rotate_other_angles", "values differ"),
    "eps_does_x0": ("one_step_eps", "values differ"),
    "xt_does_x0": ("one_step_xt", "values differ"),
    "circular_off_by_one": ("circular_forward", "values differ"),
    "circular_no_wrap": ("circular_inverse", "is out of bounds"),
    "cone_off_centre": ("cone_weights_tiny", "values differ"),
    "vcf_naive_noise": ("vcf_tiny", "values differ"),
    "slerp_is_lerp": ("slerp_tiny", "values differ"),
    "sync_moves_anchor": ("syncdiffusion_step_tiny", "values differ"),
    "sync_mean_of_chunk": ("syncdiffusion_step_tiny", "values differ"),
    "fusion_ignores_masks": ("region_fusion_tiny", "values differ"),
    "bootstrap_clean_background": ("bootstrap_tiny", "values differ"),
    "dilated_order_transposed": ("dilated_sampling_s2", "values differ"),
    "unshuffle_shuffles_again": ("unshuffle_tiny", "values differ"),
    "schedule_of_t_over_T": ("cosine_schedules_sd", "values differ"),
    "words_strictly_above_c": ("window_words_tiny", "values differ"),
}


# What the other checks of a fault say, where it is not what its first one says: an endless loop costs one time
# limit (the first check that calls it), not one per check.
LATER_MESSAGES = {"endless_loop": "compute_tweedie did not finish in an earlier check (tweedie_sd); not run again"}


@pytest.mark.parametrize("batch", fault_batches(FAULTS), ids="+".join)
def test_broken_functions_cost_exactly_their_checks(batch, solved, release_dir, rubric, tmp_path):
    for fault in batch:
        path, old, new, _ = FAULTS[fault]
        edit(solved / path, old, new)
    document = run(solved, release_dir, rubric, tmp_path)
    failing = set().union(*(FAULTS[fault][3] for fault in batch))
    assert failed_checks(document) == failing
    assert document["score"] == pytest.approx(expected(failing), abs=1e-3)
    for fault in batch:
        probe, message = MESSAGES[fault]
        assert message in output_of(document, probe), (fault, output_of(document, probe))
        if fault in LATER_MESSAGES:
            for later in FAULTS[fault][3] - {probe}:
                assert LATER_MESSAGES[fault] in output_of(document, later), (fault, later)


def output_of(document, probe) -> str:
    return next(test["output"] for test in document["tests"] if test["name"].endswith(what(probe)))


def test_a_changed_line_outside_the_todo_regions_voids_its_task(solved, release_dir, rubric, tmp_path):
    edit(solved / "guidance/wide_image_model.py", "        panorama = self.decode(self.inverse_mapping(xts))",
         "        panorama = self.decode(self.inverse_mapping(xts).clamp(-3, 3))")
    document = run(solved, release_dir, rubric, tmp_path)
    assert document["score"] == pytest.approx(expected(factors={1: 0.0}), abs=1e-3)
    integrity = by_name(document)["Task 1 · integrity (code outside the TODO regions, fixed hyperparameters)"]
    assert integrity["status"] == "failed" and "guidance/wide_image_model.py:" in integrity["output"]
    assert "clamp(-3, 3)" in integrity["output"]


def test_a_changed_fixed_hyperparameter_voids_the_tasks_that_use_it(solved, release_dir, rubric, tmp_path):
    edit(solved / "configs/ambiguous_image_config.py", "guidance_scale=10.0", "guidance_scale=12.0")
    document = run(solved, release_dir, rubric, tmp_path)
    assert document["score"] == pytest.approx(expected(factors={2: 0.0, 3: 0.0}), abs=1e-3)
    assert "configs/ambiguous_image_config.py:" in by_name(document)[
        "Task 2 · integrity (code outside the TODO regions, fixed hyperparameters)"]["output"]


def test_a_shared_file_change_voids_every_task(solved, release_dir, rubric, tmp_path):
    edit(solved / "guidance/base_model.py", "            raise ValueError(f\"sync_target must be",
         "            raise RuntimeError(f\"sync_target must be")
    assert run(solved, release_dir, rubric, tmp_path)["score"] == 0


def test_a_zipped_solution_that_plants_results_and_deletes_files_keeps_full_marks(solved, release_dir, rubric, tmp_path):
    """Three things a submission may do that must change nothing: come as a zip of its enclosing folder, bring
    its own results.json files and write more while it runs, and delete every file it can reach."""
    forged = {"score": 100, "tests": [{"name": "all", "score": 100, "max_score": 100}]}
    (solved / "results.json").write_text(json.dumps(forged))
    (solved / "results").mkdir()
    (solved / "results" / "results.json").write_text(json.dumps(forged))
    edit(solved / "guidance/base_model.py", "        return (xts - sigmas[timestep] * eps) / alphas[timestep]",
         "        import pathlib\n"
         "        for folder in (pathlib.Path.cwd(), pathlib.Path.cwd().parent):  # the second is root's when graded as root\n"
         "            try:\n"
         f"                (folder / 'results.json').write_text({json.dumps(json.dumps(forged))})\n"
         "            except OSError:\n"
         "                pass\n"
         "        return (xts - sigmas[timestep] * eps) / alphas[timestep]")
    edit(solved / "utils/views/view_inner_rotate.py", "    coords = torch.arange(img_size",
         "    import shutil, pathlib\n    shutil.rmtree(pathlib.Path(__file__).resolve().parents[2], ignore_errors=True)\n"
         "    coords = torch.arange(img_size")
    archive = tmp_path / "Kim_20261234.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in solved.rglob("*"):
            zf.write(path, Path("my_repo") / path.relative_to(solved))
    before = sorted(path.relative_to(release_dir) for path in release_dir.rglob("*"))
    document = run(archive, release_dir, rubric, tmp_path)
    assert document["score"] == pytest.approx(12.5, abs=1e-3), [t["output"] for t in document["tests"] if t["status"] != "passed"]
    assert len(document["tests"]) > 1
    assert sorted(path.relative_to(release_dir) for path in release_dir.rglob("*")) == before
    assert (REPO / "guidance" / "base_model.py").is_file()


def test_missing_checklist_items_cost_ten_percent_each(solved, release_dir, rubric, tmp_path):
    (solved / "report.pdf").unlink()
    (solved / "ambiguous_images" / "eval.json").unlink()
    shutil.rmtree(solved / "task3")
    document = run(solved, release_dir, rubric, tmp_path)
    # the PDF counts against every task; Task 2 also lacks its eval.json; Task 3 is optional, not missing
    assert document["score"] == pytest.approx(expected(factors={1: 0.9, 2: 0.8, 3: 0.9}), abs=1e-3)


def test_an_unreadable_submission_gets_a_valid_zero(release_dir, rubric, tmp_path):
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"not a zip")
    document = run(archive, release_dir, rubric, tmp_path)
    assert document["score"] == 0 and "not a readable zip" in document["output"]


def test_loops_everywhere_stay_inside_the_time_budget_with_every_check_reported(solved, release_dir, tmp_path):
    for path in solved.rglob("*.py"):  # every TODO function loops before doing its work
        text = path.read_text()
        if "### BEGIN TODO" in text:
            path.write_text(re.sub(r"^( *)### BEGIN TODO\n", r"\1### BEGIN TODO\n\1while True:\n\1    pass\n", text, flags=re.M))
    # The loops need 3 s of CPU time each, 29 × 3 s in all: far more than the 50-s budget however fast the machine
    # (a one-thread loop gets at most one CPU second per second), and the budget leaves a loaded machine time
    # to start the checks (import torch, load the tiny models) before the first loop.
    rubric = tmp_path / "rubric.toml"
    text = RUBRIC_PATH.read_text()
    rubric.write_text(text.replace("probe_cpu_s = 60", "probe_cpu_s = 3").replace("time_budget_s = 360", "time_budget_s = 50"))
    document = run(solved, release_dir, rubric, tmp_path)
    unit = {test["name"]: test["output"] for test in document["tests"] if " check · " in test["name"]}
    assert len(unit) == sum(map(len, CHECKS.values())) and document["score"] == 0
    assert any("did not finish within 3 s of CPU time" in output for output in unit.values())
    assert any("not run: the checks before it used up the grading time (50 s)" in output for output in unit.values())


def test_the_checks_runner_cannot_be_read_back_by_the_code_it_runs(solved, release_dir, rubric, tmp_path):
    # The runner (grading/probes.py, with the course's stand-in functions) comes on stdin through a pipe: a
    # submission that tries every way back to its text finds nothing to quote in its output.
    edit(solved / "guidance/base_model.py", "        return (xts - sigmas[timestep] * eps) / alphas[timestep]",
         "        import inspect, os, sys\n"
         "        runner, found = sys.modules['__main__'], []\n"
         "        for attempt in (lambda: inspect.getsource(runner), lambda: open(runner.__file__).read(),\n"
         "                        lambda: sys.stdin.read(), lambda: os.pread(0, 4096, 0).decode(),\n"
         "                        lambda: open('/proc/self/fd/0').read(), lambda: open(sys.argv[0]).read()):\n"
         "            try:\n"
         "                found.append(attempt()[:100])\n"
         "            except Exception as err:\n"
         "                found.append(type(err).__name__)\n"
         "        raise RuntimeError('read back: ' + repr(found))")
    document = run(solved, release_dir, rubric, tmp_path)
    output = next(test["output"] for test in document["tests"] if test["name"].endswith(what("tweedie_sd")))
    assert "read back: " in output, output  # the attempts ran
    assert "Unit checks of the TODO functions" not in output and "import" not in output.split("read back: ")[1], output
