"""nbgrader settings for the synckit walkthroughs (the course folder is this one: run nbgrader from here).

    cd notebooks
    nbgrader generate_assignment walkthroughs --force   # release/walkthroughs/: the student notebooks
    nbgrader autograde walkthroughs                     # submitted/<student>/walkthroughs/ -> autograded/
    nbgrader export                                     # grades.csv

The notebooks import the repo's own code (guidance/, configs/, utils/) from the repo root, which they find
by walking up from where they run (or from $SYNCKIT_ROOT). No .py file lives in source/walkthroughs/.
"""

c = get_config()  # noqa: F821 (nbgrader defines it)

c.CourseDirectory.course_id = "cs492d-synckit"

# Student notebooks mark their TODO the way the repo's release marks .py files.
c.ClearSolutions.code_stub = {
    "python": '### BEGIN TODO\nraise NotImplementedError("TODO: write this function")\n### END TODO',
}

# Per cell. While grading, the cells that sample with a model are skipped (they check NBGRADER_EXECUTION),
# so no graded notebook loads a model: every cell takes seconds on a 2-core CPU. The margin is for slow
# student code and busy machines.
c.Execute.timeout = 120

# Autograde copies every non-notebook file of source/<assignment>/ over the student's copy. Nothing of the
# kind lives there (the notebooks import the repo from its root), but should anyone copy the repo's files
# with TODO regions into the assignment folder, students' versions of them must survive autograding.
c.Autograde.exclude_overwriting = {
    "walkthroughs": [
        "guidance/base_model.py",
        "guidance/wide_image_model.py",
        "guidance/ambiguous_image_model.py",
        "guidance/circular_wide_image_model.py",  # the extension tasks' TODOs
        "guidance/fusion.py",
        "guidance/syncdiffusion.py",
        "guidance/regions.py",
        "guidance/highres.py",
        "utils/views/view_rotate.py",
        "utils/views/view_inner_rotate.py",
    ],
}
