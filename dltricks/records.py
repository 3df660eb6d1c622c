"""What a run's files hold (DESIGN.md section 2): the metrics registry (metrics.csv's and
layers.csv's columns, summary.json's final and best), the statuses, and summary.json's schema,
with the one definition of "a number" that the config rules, the trackers and the report
share. No file I/O here: where the files are and how they are read and written is
dltricks.rundir's."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

# ---------------------------------------------------------------- the metrics registry
# Every metric's name is written here once; the loop, the summary and the report derive
# their lists from these, and a writer refuses a key it has no column for.

SPLITS = ("train", "val", "test")
EVALUATED = tuple(f"{split}_{m}" for split in SPLITS for m in ("loss", "err"))
"""Measured over a whole split in eval mode (dropout off, BatchNorm running statistics):
summary.json's `final`."""
BEST = ("epoch", "val_err", "test_err")
"""summary.json's `best`: the evaluation with the lowest val_err."""
METRICS_DOC: dict[str, str] = {
    "epoch": "the epoch just trained (1-based)",
    "step": "updates so far",
    "lr": "the learning rate of the epoch's last update (the first parameter group)",
    **{
        f"{split}_{m}": f"{what} over the {split} split, in eval mode"
        for split in SPLITS
        for m, what in (("loss", "mean cross-entropy"), ("err", "error fraction"))
    },
    "grad_norm": "the global L2 norm of the last update's gradients",
    "epoch_s": "seconds the epoch took, its evaluation included",
    "samples_per_s": "training examples per second of training time, so far",
    "train_loss_running": (
        "the mean over the epoch of the objective each update minimized: the minibatch "
        "loss in train mode plus any penalty (l1, l2), over the clean and adversarial "
        "halves with FGSM; train_loss is the plain loss over the split in eval mode"
    ),
}
METRIC_COLUMNS = list(METRICS_DOC)
"""metrics.csv's columns, in order (an optimizer may add its own after them)."""
LAYER_STATS = ("grad_norm", "weight_norm", "update_ratio", "act_mean", "act_std", "dead_frac")
"""What the probes measure of each weight layer (probes.py)."""
LAYER_COLUMNS = ["epoch", "step", "layer", "index", "kind", *LAYER_STATS]
"""layers.csv's columns (trainer.probes=true): one row per weight layer and probe."""
RESULTS = ("completed", "early_stopped", "diverged", "pruned")
"""The statuses of a run that ended with a result (exit 0): a sweep's re-run skips it."""
STATUSES = ("running", *RESULTS, "interrupted", "failed")

# summary.json's fields a reader relies on, and what each must be: the file is read back by
# the report and by resume, and someone else may have written it.
_NUM, _INT, _STR, _NONE = (int, float), (int,), (str,), (type(None),)
SUMMARY_FIELDS: dict[str, tuple[type, ...]] = {
    "status": _STR,
    "epochs": _INT,
    "steps": _INT,
    "final": (dict, *_NONE),
    "best": (dict, *_NONE),
    "choices": (dict,),
    "overrides": (list,),
    "params": _INT,
    "seed": _INT,
    "wall_s": _NUM,
    "train_s": _NUM,
    "stacked": (dict,),
    "samples_per_s": (*_NUM, *_NONE),
    "pid": _INT,
    "host": _STR,
    "slurm_job": _STR,
    "name": _STR,
    "error": _STR,
    "sparsity": (*_NUM, *_NONE),
    "zero_weights": (*_NUM, *_NONE),
    "diverged_at_step": _INT,
    "sanity": (dict,),
    "overfit": (dict,),
    "update_ratio": (dict, *_NONE),
    "average": (dict, *_NONE),
    "tricks": (dict,),
    "trackers": (dict,),
    "resumed": (list,),
}


def summary_problems(summary: dict[str, Any]) -> list[str]:
    """The fields of a summary that do not fit SUMMARY_FIELDS (bools are not numbers), the
    numbers of final and best included; [] for a sound one."""
    wrong = [
        k
        for k, kinds in SUMMARY_FIELDS.items()
        if k in summary and (not isinstance(summary[k], kinds) or isinstance(summary[k], bool))
    ]
    if summary.get("status") not in (*STATUSES, None) and "status" not in wrong:
        wrong.append("status")
    for part in ("final", "best"):
        values = summary.get(part) if part not in wrong else None
        if isinstance(values, dict) and not all(_number(v) for v in values.values()):
            wrong.append(part)
    if "overrides" not in wrong and not _strings(summary.get("overrides", [])):
        wrong.append("overrides")
    choices = summary.get("choices", {}) if "choices" not in wrong else {}
    if not all(v is None or isinstance(v, str) or _strings(v) for v in choices.values()):
        wrong.append("choices")
    return wrong


def sound_fields(summary: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A summary read back without the fields that do not fit SUMMARY_FIELDS, and their
    names: what a reader may rely on."""
    wrong = summary_problems(summary)
    return {k: v for k, v in summary.items() if k not in wrong}, wrong


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def is_number(value: Any, finite: bool = False) -> bool:
    """An int or a float, never a bool (json and YAML's true is not 1); finite: not nan or
    inf either."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return not finite or math.isfinite(value)


def _number(value: Any) -> bool:
    return value is None or is_number(value)


SEARCH = "search"  # an option's search space (dltricks.search.space): no value of the run


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """{'model': {'depth': 20}} -> {'model.depth': 20}; Hydra's _target_ keys and the
    options' search spaces dropped."""
    if not isinstance(node, dict):
        return {prefix.rstrip("."): node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if str(key).startswith("_") or (key == SEARCH and isinstance(value, dict)):
            continue
        out.update(flatten(value, f"{prefix}{key}."))
    return out


def is_int(value: Any) -> bool:
    """An int, never a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def int_at_least(n: int) -> Callable[[Any], bool]:
    """The test "an integer >= n" (a bool is none)."""
    return lambda x: is_int(x) and x >= n
