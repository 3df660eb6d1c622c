"""`dltricks versus GROUP=A,B,... --problems P,Q --budget N --seeds S`: is option A better
than B here, or is it the tuning or the seed? Answered as the field's benchmarks do (DeepOBS,
Descending through a Crowded Valley, AlgoPerf): per option and problem, the option at its
defaults over the seeds; a tuning study of `budget` trials over the config's search spaces
(the option's own, and the optimizer's: quasi-random by default); the best setting re-run
over the seeds. Everything is an ordinary sweep or study in one folder (plan.json at its root,
plan.py), so it runs on every launcher and a re-run of the command continues where it
stopped. `dltricks report FOLDER` reads it (report/versus.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dltricks.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, BadInput, bad_input
from dltricks.rundir import OUTPUTS, phase_dir
from dltricks.versus.plan import PHASES, Plan, make, settle

DEFAULT_PROBLEMS = "digits_mlp,spirals_mlp,teacher_mlp"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dltricks versus", description=__doc__.split("\n\n")[0])
    p.add_argument("choice", help="the options of one config group, e.g. optimizer=sgd,adam")
    p.add_argument("overrides", nargs="*", help="shared by every run, e.g. trainer.epochs=5")
    p.add_argument("--problems", default=DEFAULT_PROBLEMS, help=f"(default {DEFAULT_PROBLEMS})")
    p.add_argument("--budget", type=int, default=8, help="tuning trials per option (default 8)")
    p.add_argument("--seeds", type=int, default=3, help="seeds of each setting (default 3)")
    p.add_argument("--sampler", default="qmc", help="the tuning sampler (default qmc)")
    p.add_argument("--pruner", default="none", help="the tuning pruner (default none)")
    p.add_argument("--out", type=Path, default=None, help="the folder (outputs/versus/GROUP)")
    return p


def main(args: list[str]) -> tuple[int, Path | None]:
    """Plan, check, run every phase; the exit code and the folder (for the report)."""
    opts = parser().parse_intermixed_args(args)
    try:
        plan = make(
            opts.choice,
            [p for p in opts.problems.split(",") if p],
            opts.budget,
            opts.seeds,
            sampler=opts.sampler,
            pruner=opts.pruner,
            overrides=list(opts.overrides),
        )
        out = opts.out or OUTPUTS / "versus" / plan.group
        settle(plan, out)
    except BadInput as err:
        return bad_input(str(err)), None
    codes = run(plan, out)
    if EXIT_BAD_INPUT in codes:
        return EXIT_BAD_INPUT, out
    return (EXIT_INTERNAL if EXIT_INTERNAL in codes else EXIT_OK), out


def run(plan: Plan, out: Path) -> list[int]:
    """Every phase of every option on every problem, in order; each phase's exit code (a
    failed run is recorded and the comparison goes on)."""
    from dltricks import launch
    from dltricks.search.driver import best_overrides

    seeds = "seed=" + ",".join(str(s) for s in range(plan.seeds))
    search = [
        "hydra/sweeper=search",
        f"hydra.sweeper.n_trials={plan.budget}",
        f"hydra/sweeper/sampler={plan.sampler}",
        f"hydra.sweeper.pruner={plan.pruner}",
    ]
    codes = []
    for problem in plan.problems:
        for option in plan.options:
            base = [f"problem={problem}", f"{plan.group}={option}", *plan.overrides]
            where = {phase: phase_dir(out, problem, option, phase) for phase in PHASES}
            print(f"dltricks versus: {problem}, {plan.group}={option}", flush=True)
            codes.append(launch.train(["-m", *base, seeds, f"hydra.sweep.dir={where['default']}"]))
            codes.append(launch.train(["-m", *base, *search, "seed=0",
                                       f"hydra.sweep.dir={where['tune']}"]))  # fmt: skip
            best = best_overrides(where["tune"])
            if best is None:
                print(f"dltricks versus: no tuning trial of {option} on {problem} completed")
                continue
            codes.append(launch.train(["-m", *base, *best, seeds,
                                       f"hydra.sweep.dir={where['rerun']}"]))  # fmt: skip
    return codes
