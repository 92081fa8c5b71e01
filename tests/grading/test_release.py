"""The student release: solution regions become TODO stubs, nothing of the solution leaks, the public
tests fail on the stubs with NotImplementedError rather than collection errors, and its README is the student
README, whose every path and command holds in the release."""

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grading.markers import BEGIN_SOLUTION, END_SOLUTION
from grading.release import STUDENT_TOOLS, ReleaseError, notebook_maker, release, strip_solutions
from grading.rubric import load_rubric
from grading.student_readme import ReadmeError, student_readme
from synckit.layout import AMBIGUOUS_DIR, RELEASE_WALKTHROUGHS, TASK3_DIR, WALKTHROUGHS_DIR, WIDE_DIR

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]


def solution_regions(text):
    return re.findall(rf"{BEGIN_SOLUTION}\n(.*?){END_SOLUTION}", text, flags=re.S)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "student"
    stubbed = release(REPO, out)
    return out, stubbed


def test_a_region_becomes_an_indented_stub_naming_its_function():
    source = (
        "class A:\n"
        "    def tweedie(self, x):\n"
        "        '''doc'''\n"
        "        ### BEGIN SOLUTION\n"
        "        return x / 2\n"
        "        ### END SOLUTION\n"
        "\n"
        "    def other(self):\n"
        "        return 1\n"
    )
    student, regions = strip_solutions(source, "a.py")
    assert regions == 1
    assert student == (
        "class A:\n"
        "    def tweedie(self, x):\n"
        "        '''doc'''\n"
        "        ### BEGIN TODO\n"
        '        raise NotImplementedError("TODO: implement tweedie (a.py)")\n'
        "        ### END TODO\n"
        "\n"
        "    def other(self):\n"
        "        return 1\n"
    )


@pytest.mark.parametrize("source, message", [
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside the region opened at line 1"),
    ("x = 1\n### END SOLUTION\n", "a.py:2"),
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "never closed"),
])
def test_broken_markers_are_refused_with_their_line(source, message):
    with pytest.raises(ReleaseError, match=message):
        strip_solutions(source, "a.py")


def test_every_student_function_is_stubbed(released):
    _, stubbed = released
    assert stubbed == {
        "guidance/base_model.py": 4,  # compute_tweedie, compute_prev_state, the eps and xt branches
        "guidance/wide_image_model.py": 2,
        "guidance/circular_wide_image_model.py": 2,  # the 360° extension's forward_mapping, inverse_mapping
        "guidance/fusion.py": 3,  # GVCFDiffusion's cone_weights, variance_corrected_fusion, slerp
        "guidance/syncdiffusion.py": 1,  # SyncDiffusion's syncdiffusion_step
        "guidance/regions.py": 2,  # region prompts' region_fusion, bootstrap_regions
        "guidance/highres.py": 6,  # higher resolution: the schedules, dilated sampling and its inverse, the shuffle
        # and the un-shuffle, the patch prompts' words
        "guidance/ambiguous_image_model.py": 2,
        "utils/views/view_rotate.py": 2,
        "utils/views/view_inner_rotate.py": 2,
    }


def test_no_solution_code_leaks(released):
    out, stubbed = released
    for path in stubbed:
        source = (REPO / path).read_text()
        student = (out / path).read_text()
        assert BEGIN_SOLUTION not in student and END_SOLUTION not in student
        outside = source
        for region in solution_regions(source):
            outside = outside.replace(region, "")
        given_lines = {line.strip() for line in outside.splitlines()}
        for region in solution_regions(source):
            for line in region.splitlines():
                code = line.strip()
                if code and not code.startswith("#") and code not in given_lines:
                    assert code not in student, f"solution line leaked into {path}: {code}"


def test_instructor_files_stay_out(released):
    out, _ = released
    assert not (out / "tests" / "grading").exists() and not (out / ".ci").exists()
    assert (out / "tiny_models").is_dir() and (out / "README.md").is_file() and (out / "tests" / "conftest.py").is_file()
    # of grading/, only what `python -m grading collect` needs
    released = [path for path in (out / "grading").rglob("*") if path.is_file() and "__pycache__" not in path.parts]
    assert sorted(path.relative_to(out).as_posix() for path in released) == sorted(STUDENT_TOOLS)


def test_the_submission_layout_ships_as_it_is(released):
    # main.py, eval.py and `python -m grading collect` import it; it is course code, with no solution region
    out, stubbed = released
    assert (out / "synckit" / "layout.py").read_text() == (REPO / "synckit" / "layout.py").read_text()
    assert "synckit/layout.py" not in stubbed


def imported_names(source):
    """Every dotted name an import statement mentions; `from a import b` gives a and a.b (b may be a module)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_the_released_tools_import_only_released_modules(released):
    out, _ = released
    for path in (out / "grading").glob("*.py"):
        for name in imported_names(path.read_text()):
            module = f"{name.replace('.', '/')}.py"
            if name.startswith("grading.") and (REPO / module).is_file():
                assert module in STUDENT_TOOLS, f"released {path.name} imports {name}, which is not released"


def test_release_refuses_to_overwrite(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ReleaseError, match="already has files"):
        release(REPO, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def run_in(folder, *args):
    env = {**os.environ, "PYTHONPATH": str(folder), "COLUMNS": "1000"}  # untruncated summary lines
    return subprocess.run([sys.executable, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=300)


# The public test modules that exercise every TODO region (see test_every_student_function_is_stubbed).
TODO_TEST_MODULES = ("test_ddim or test_wide_mapping or test_views or test_sync_targets or test_circular_panorama"
                     " or test_gvcf_fusion or test_syncdiffusion or test_regions or test_highres")


@pytest.mark.slow  # 13 s: it runs the release's public tests of every task, extensions included
def test_release_collects_and_its_public_tests_fail_on_the_stubs(released):
    out, _ = released
    # One run: -k deselects only after collecting every test file, so an import or collection error anywhere
    # in the release (main, configs, guidance, utils, synckit are all imported) still shows up.
    result = run_in(out, "-m", "pytest", "-q", "-rf", "--tb=no", "-p", "no:cacheprovider", "-k", TODO_TEST_MODULES)
    summary = result.stdout.strip().splitlines()[-1]
    assert "error" not in summary and "deselected" in summary, result.stdout[-3000:]
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert failed, summary
    not_stubs = [line for line in failed if "NotImplementedError: TODO: implement" not in line]
    assert not not_stubs, "\n".join(not_stubs)


def test_the_release_offers_collect_and_no_instructor_command(released):
    out, _ = released
    listing = run_in(out, "-m", "grading", "--help")
    assert listing.returncode == 0, listing.stderr
    assert set(re.findall(r"^    (\w+)", listing.stdout, flags=re.M)) == {"collect"}  # the commands offered
    assert "--student_id" in run_in(out, "-m", "grading", "collect", "--help").stdout
    refused = run_in(out, "-m", "grading", "release", "elsewhere")
    assert refused.returncode != 0 and "invalid choice: 'release'" in refused.stderr


# --- the student README -------------------------------------------------------------------------------------

README = (REPO / "README.md").read_text()
# The last column of README.md's table of what students implement: the finished formula of each TODO function.
FORMULAS = re.findall(r"^\| \d+ \| `[^`]+` \|.*\| ([^|]+) \|$", README, flags=re.M)
TODO_FUNCTIONS = [name for cell in re.findall(r"^\| \d+ \| `[^`]+` \| ([^|]+) \|", README, flags=re.M)
                  for name in re.findall(r"`([\w.]+)`", cell)]


def test_the_release_readme_is_the_student_readme(released):
    out, _ = released
    student = (out / "README.md").read_text()
    assert student == student_readme(REPO) and student != README
    assert "<!--" not in student  # every include resolved, no marker left
    assert "The repo is the full solution" not in student and "hidden_seed" not in student


def test_the_student_readme_states_the_formulas_by_default_and_not_without(tmp_path):
    assert len(FORMULAS) == len(re.findall(r"^\| \d+ \| ", README, flags=re.M)) >= 8  # one per table row
    assert any("x̂0 = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t" in formula for formula in FORMULAS)  # Tweedie's
    with_formulas = student_readme(REPO)
    release(REPO, tmp_path / "student", formulas=False)
    without = (tmp_path / "student" / "README.md").read_text()
    for formula in FORMULAS:
        assert formula.strip() in with_formulas and formula.strip() not in without, formula
    for text in [*TODO_FUNCTIONS, "√ᾱ_t, √(1−ᾱ_t)", "`final_alpha_cumprod`", "**clockwise**", "radius 3/8 of the side"]:
        assert text in with_formulas and text in without, text
    assert "| Definitions and conventions |\n" in without and "| Formula |" not in without


@pytest.mark.parametrize("readme, template, message", [
    ("<!-- shared: a -->\nA\n<!-- end shared -->\n", "<!-- include: b -->\n", "includes b, which README.md does not share"),
    ("<!-- shared: a -->\nA\n", "<!-- include: a -->\n", "has no partner"),
    ("<!-- shared: a -->\n<!-- shared: b -->\nB\n<!-- end shared -->\n", "<!-- include: a -->\n", "do not nest"),
])
def test_a_template_and_readme_that_do_not_fit_are_refused(tmp_path, readme, template, message):
    (tmp_path / "README.md").write_text(readme)
    (tmp_path / "grading").mkdir()
    (tmp_path / "grading" / "student_readme.md").write_text(template)
    with pytest.raises(ReadmeError, match=message):
        student_readme(tmp_path)


def test_the_student_readme_names_each_tasks_files_as_the_rubric_does():
    student = student_readme(REPO)
    for number, task in load_rubric()["tasks"].items():
        for path in task["files"]:
            assert f"`{path}`" in student, f"the rubric voids Task {number} on {path}; the student README must say so"


# --- what release needs ---------------------------------------------------------------------------------------

def test_the_install_command_release_gives_brings_nbgrader():
    extra = re.search(r'\.\[(\w+)\]', notebook_maker(REPO).INSTALL).group(1)
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(requirement.startswith("nbgrader") for requirement in extras[extra])


def test_release_without_nbgrader_says_what_to_install_before_any_work(tmp_path):
    # A real Python without nbgrader: a virtual environment with no packages, called without activating it.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    python = tmp_path / "venv" / "bin" / "python"
    done = subprocess.run([str(python), "-m", "grading", "release", str(tmp_path / "student")], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and not (tmp_path / "student").exists()
    assert done.stderr.count("\n") == 1, done.stderr  # one line
    assert "nbgrader is not installed" in done.stderr and f'{python} -m pip install -e ".[test]"' in done.stderr


# --- the command-line release, from an environment that is not activated (slow: nbgrader) ----------------------

STRIPPED_PATH = "/usr/bin:/bin"  # where git is, and not the interpreter's bin/ with nbgrader's alembic


@pytest.fixture(scope="module")
def cli_release(tmp_path_factory):
    if shutil.which("alembic", path=STRIPPED_PATH):
        pytest.skip(f"alembic is on {STRIPPED_PATH}: the release would find it there anyway")
    out = tmp_path_factory.mktemp("cli") / "student"
    done = subprocess.run([sys.executable, "-m", "grading", "release", str(out)], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PATH": STRIPPED_PATH}, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.mark.slow
def test_the_release_command_ships_the_student_notebooks_only(cli_release):
    notebooks = sorted((cli_release / RELEASE_WALKTHROUGHS).glob("*.ipynb"))
    assert [path.name[:5] for path in notebooks] == ["task0", "task1", "task2", "task3"]
    for notebook in notebooks:
        text = notebook.read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "BEGIN TODO" in text
    assert not (cli_release / "notebooks" / "source").exists()
    assert not (cli_release / "tests" / "test_notebooks.py").exists()


FENCED = re.compile(r"^```(\w*)\n(.*?)^```\n", re.M | re.S)  # (language, text) of each code block
CODE_SPAN = re.compile(r"`([^`\n]+)`")
PROGRAMS = ("python", "pip", "jupyter", "huggingface-cli")
# What the student README names that is no file of the release: what students make (a virtual environment,
# outputs, the folders of a submission zip), the Hugging Face models and web addresses.
NOT_RELEASE_FILES = (".venv/", "outputs/", "./outputs", f"{WIDE_DIR}/", f"{AMBIGUOUS_DIR}/", f"{TASK3_DIR}/",
                     f"{WALKTHROUGHS_DIR}/", "stabilityai/", "DeepFloyd/", "http://", "https://")
# relative, with a slash, no placeholder (<fdir1>/, {eps,x0}/, a|b), not a flag
PATH_LIKE = re.compile(r"[^\s<>{}|\[\]/-][^\s<>{}|\[\]]*/[^\s<>{}|\[\]]*")


def readme_commands(readme: str) -> list:
    """Every line of the README's bash blocks, and every code span that is a command, as argv lists."""
    lines = [line for language, block in FENCED.findall(readme) if language == "bash"
             for line in block.splitlines() if line.strip()]
    spans = [span for span in CODE_SPAN.findall(FENCED.sub("", readme)) if span.startswith(PROGRAMS)]
    return [shlex.split(line, comments=True) for line in lines + spans]


def readme_paths(readme: str) -> set:
    """What the README names as files or folders: words with a slash in its commands, code spans and other blocks."""
    words = [word for argv in readme_commands(readme) for word in argv]
    words += CODE_SPAN.findall(FENCED.sub("", readme))
    words += [word for language, block in FENCED.findall(readme) if language != "bash" for word in block.split()]
    return {word for word in words if PATH_LIKE.fullmatch(word) and not word.startswith(NOT_RELEASE_FILES)}


def missing_paths(readme: str, release_dir: Path) -> list:
    return sorted(path for path in readme_paths(readme) if not list(release_dir.glob(path.rstrip("/"))))


def test_the_path_rule_finds_what_the_instructor_readme_names_and_a_release_lacks(released):
    out, _ = released
    instructor_only = {"grading/rubric.toml", "grading/probes.py", "tests/grading/", "tests/test_notebooks.py"}
    assert instructor_only <= set(missing_paths(README, out))


@pytest.mark.slow
def test_every_path_the_student_readme_names_is_in_the_release(cli_release):
    readme = (cli_release / "README.md").read_text()
    assert {"guidance/base_model.py", "tests/test_views.py", "notebooks/walkthroughs/"} <= readme_paths(readme)
    missing = missing_paths(readme, cli_release)
    assert not missing, f"the student README names what the release lacks: {missing}"


@pytest.mark.slow
def test_every_command_of_the_student_readme_runs_in_the_release(cli_release):
    """Each pytest command collects, each python command's flags are in its --help. One start per pytest option set
    and per program and app (each start imports torch: one per command took minutes of CI), each command checked."""
    commands = readme_commands((cli_release / "README.md").read_text())
    extras = tomllib.loads((cli_release / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    test_files, helps, checked = {}, {}, 0
    for argv in {tuple(argv): argv for argv in commands}.values():
        shown = shlex.join(argv)
        if argv[:3] == ["python", "-m", "pytest"]:
            options = tuple(word for word in argv[3:] if not word.startswith("tests/"))
            test_files.setdefault(options, []).extend(word for word in argv[3:] if word.startswith("tests/"))
        elif argv[0] == "python":
            program = argv[1:3] if argv[1] == "-m" else argv[1:2]
            rest = argv[len(program) + 1:]
            words = rest[:next((index for index, word in enumerate(rest) if word.startswith("-")), len(rest))]
            app = argv[argv.index("--app"):argv.index("--app") + 2] if "--app" in argv else []
            key = (*program, *words, *app)  # a subcommand, and main.py's app, change what --help lists
            if key not in helps:
                helps[key] = run_in(cli_release, *key, "--help")
            done = helps[key]
            assert done.returncode == 0, f"{shown}:\n{done.stderr[-2000:]}"
            unknown = [word for word in argv if word.startswith("--") and word not in done.stdout]
            assert not unknown, f"{shown}: its --help lists no {unknown}"
        elif argv[:3] == ["pip", "install", "-e"]:  # this project, maybe with extras the release's pyproject must have
            wanted = re.fullmatch(r"\.(?:\[([\w,]+)\])?", argv[3]).group(1)
            assert set(filter(None, (wanted or "").split(","))) <= set(extras), shown
        else:
            continue
        checked += 1
    for options, files in test_files.items():
        done = run_in(cli_release, "-m", "pytest", *options, *dict.fromkeys(files), "--collect-only", "-p", "no:cacheprovider")
        assert done.returncode == 0 and " collected" in done.stdout, f"pytest {shlex.join(options)} {files}:\n{done.stdout[-2000:]}"
    assert checked >= 15, commands  # the rule finds them
