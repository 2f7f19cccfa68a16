"""dlcourse: the NYU Deep Learning course (LeCun & Canziani, 2020) as lessons that run and assert.

    import dlcourse
    result = dlcourse.run("spiral", quick=True, lr=0.1)   # in Jupyter: a table of targets, the figures
    result["metrics"], result["passed"], result["dir"]

Importing the package is cheap (no torch): the library lives in dlcourse.data, .models, .scratch,
.train and .decoding.
"""

__version__ = "0.1.0"


def run(name: str, quick: bool = False, seed: int = 0, out: str = "runs", device: str = "cpu",
        threads: int | None = None, **config):
    """Run a lesson as `dlcourse run` does and return its result (a dict of the summary that shows
    itself as a table). `config` overrides the lesson's config: `dlcourse.run("spiral", epochs=50)`."""
    from dlcourse.result import LessonResult
    from dlcourse.runner import run_experiment

    summary = run_experiment(name, "quick" if quick else "full", config, seed, device, out, threads=threads)
    return LessonResult(summary)
