"""What a comparison runs (plan.json in its folder): the options of one config group, the
problems, the tuning budget, the seeds, the sampler and pruner, the overrides every run
shares, and each problem's target. Checked before any run (exit 2 naming what to fix); a
re-run of the command reads the plan and continues, and a changed plan is refused with the
difference shown."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dltricks.errors import BadInput, ConfigError

PHASES = ("default", "tune", "rerun")  # the option at its defaults; its study; the best re-run


@dataclass
class Plan:
    group: str
    options: list[str]
    problems: list[str]
    budget: int
    seeds: int
    sampler: str = "qmc"
    pruner: str = "none"
    overrides: list[str] = field(default_factory=list)
    targets: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)


def make(choice: str, problems: list[str], budget: int, seeds: int, **more: Any) -> Plan:
    """The plan a command line asks for, each part checked against the config's registry:
    `choice` is GROUP=OPT1,OPT2,... of one group, the problems exist, budget and seeds >= 1,
    every problem has a target its metric can reach."""
    from dltricks import config

    group, eq, listed = choice.partition("=")
    options = [o.strip() for o in listed.split(",") if o.strip()]
    if not eq or group not in config.groups() or group == "problem":
        groups = ", ".join(g for g in config.groups() if g not in ("problem", "experiment"))
        raise ConfigError(f"{choice}: name one group's options, GROUP=A,B,... (groups: {groups})")
    if len(options) < 2 or len(set(options)) < len(options):
        raise ConfigError(f"{choice}: give two or more different options of {group}")
    valid = config.options(group)
    for option in options:
        if option not in valid:
            raise ConfigError(
                f"{group}={option}: no such option in group '{group}'. Valid options: "
                + ", ".join(valid)
            )
    for name, value in (("--budget", budget), ("--seeds", seeds)):
        if value < 1:
            raise ConfigError(f"{name} {value}: must be 1 or more")
    known = config.options("problem")
    for problem in problems:
        if problem not in known:
            raise ConfigError(
                f"--problems {problem}: no such problem. Problems: {', '.join(known)}"
            )
    plan = Plan(group, options, problems, budget, seeds, **more)
    for problem in problems:
        cfg = config.load([f"problem={problem}", *plan.overrides])
        if cfg.problem.target is None:
            raise ConfigError(f"problem={problem}: it has no problem.target; give it one")
        plan.targets[problem] = float(cfg.problem.target)
        plan.metrics[problem] = str(cfg.problem.metric)
    for option in options:  # every option with every problem: a config that passes the checks
        for problem in problems:
            config.load([f"problem={problem}", f"{group}={option}", *plan.overrides])
    if problems:  # Hydra's own keys (the launcher's...), as each phase's sweep will have them
        from dltricks import launch

        first = [f"problem={problems[0]}", f"{group}={options[0]}", *plan.overrides]
        launch.check_command_line([*first, "seed=0,1"], multirun=True)
    return plan


def settle(plan: Plan, out: Path) -> Plan:
    """The plan of the folder: written if new; the same as the one there (a re-run continues
    it); or BadInput showing what differs."""
    from dltricks import rundir

    saved, problem = rundir.read_plan(out)
    if saved is None and problem is None:
        rundir.write_plan(out, asdict(plan))
        return plan
    if saved is None:
        raise BadInput(f"{out}: its plan is unreadable ({problem}); use another --out")
    mine = asdict(plan)
    changed = [f"{k}: {saved.get(k)!r} -> {v!r}" for k, v in mine.items() if saved.get(k) != v]
    if changed:
        raise BadInput(
            f"{out}: holds a comparison of another plan ({'; '.join(changed)}); re-run it as "
            "it was, or use another --out"
        )
    return plan
