"""Reading grading/rubric.toml, the grading table, with a clear error for a broken edit."""

from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10, e.g. Gradescope's Ubuntu 22.04 image
    import tomli as tomllib

RUBRIC_PATH = Path(__file__).with_name("rubric.toml")


class RubricError(ValueError):
    pass


def load_rubric(path: Path = RUBRIC_PATH, tiny: bool = False) -> dict:
    """The table as a dict; with `tiny`, the [tiny] section overrides CLIP thresholds and reproduction, and the
    prompts are the toy world's (`toy_prompts`: synckit.layout.data_file(..., toy=True)), as `main.py --tiny` reads
    them: what a tiny submission was made from, the only prompts the tiny models know."""
    try:
        rubric = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise RubricError(f"cannot read the rubric {path}: {err}") from err
    try:
        tasks = {int(number): task for number, task in rubric["tasks"].items()}
        for number, task in tasks.items():
            if not 0 <= task["unit_share"] <= 1 or task["points"] < 0:
                raise RubricError(f"task {number}: points must be >= 0 and unit_share within 0..1")
            if task.get("extension", False) and task["unit_share"] != 1:
                raise RubricError(f"task {number}: an extension has no images to score, so its unit_share must be 1")
        for section, keys in {"clip": ("full", "half", "report_tolerance"), "unit": ("hidden_seed", "probe_cpu_s", "probe_wall_s", "time_budget_s", "memory_gib"),
                              "reproduction": ("prompts_per_task", "max_mean_abs_diff", "timeout_s")}.items():
            for key in keys:
                rubric[section][key]  # noqa: B018 - presence check
    except KeyError as err:
        raise RubricError(f"the rubric {path} lacks {err}; compare it with the one in the repository") from err
    rubric["tasks"] = tasks
    rubric["image_tasks"] = [number for number, task in tasks.items() if not task.get("extension", False)]
    if tiny:
        extra = rubric["tiny"]
        rubric["clip"].update(model=extra["clip_model"], full=extra["full"], half=extra["half"])
        rubric["reproduction"].update(max_mean_abs_diff=extra["max_mean_abs_diff"], timeout_s=extra["timeout_s"])
    rubric["clip_tiers"] = {number: task_clip_tiers(rubric["clip"], number) for number in rubric["image_tasks"]}
    rubric["main_args"] = rubric["tiny"]["main_args"] if tiny else []
    rubric["toy_prompts"] = tiny
    return rubric


def task_clip_tiers(clip: dict, number: int) -> dict:
    """{"full", "half"} of task `number`: one pair for every task (the course's CLIP), or a table by task number
    (the toy CLIP, whose scores differ by task: a toy glyph is closer to its caption than a landscape crop is)."""
    tiers = {}
    for key in ("full", "half"):
        value = clip[key]
        if isinstance(value, dict):
            if str(number) not in value:
                raise RubricError(f"the CLIP threshold '{key}' has no value for task {number}: give one per image task, "
                                  f"e.g. {key} = {{ 1 = ..., 2 = ..., 3 = ... }}")
            value = value[str(number)]
        tiers[key] = float(value)
    if tiers["half"] > tiers["full"]:
        raise RubricError(f"task {number}: the CLIP threshold for half points ({tiers['half']}) is above full ({tiers['full']})")
    return tiers


def clip_tier(score: float, clip: dict) -> float:
    """The handout's table: full points at or above `full`, half at or above `half`, else none."""
    if score >= clip["full"]:
        return 1.0
    if score >= clip["half"]:
        return 0.5
    return 0.0
