"""`dltricks ensemble RUN_DIR ...`: a model ensemble (cs231n) of finished runs, measured: the
average of their predicted probabilities on the validation and test splits, against each
member and their mean. The runs must share the data options; each is rebuilt from its own
overrides (replayed as `dltricks resume` does, so a tampered run dir runs nothing) and its
final weights (checkpoint.pt, read with weights_only)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from dltricks import config, records, run_record
from dltricks.build import build
from dltricks.errors import EXIT_OK, BadFile, BadInput, ConfigError, bad_input
from dltricks.rundir import RunDir

SPLITS = ("val", "test")


def member(run_dir: RunDir, tmp: Path) -> tuple[dict[str, Any], Any]:
    """A run's flattened data options and its probabilities on the held-out splits."""
    cfg = config.load(run_record.saved_overrides(run_dir))
    weights = run_dir.load_checkpoint().get("model")
    p = build(cfg, RunDir(tmp))
    try:
        p.model.load_state_dict(weights)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise BadFile(
            f"{run_dir.checkpoint_path}: its weights do not fit the run's model ({err})"
        ) from None
    p.model.eval()
    with torch.inference_mode():
        probs = {s: F.softmax(p.model(getattr(p.data, s).x).float(), 1) for s in SPLITS}
    labels = {s: getattr(p.data, s).y for s in SPLITS}
    return records.flatten({"data": dict(cfg.data)}), (probs, labels)


def error(probs: torch.Tensor, labels: torch.Tensor) -> float:
    return float((probs.argmax(1) != labels).float().mean())


def ensemble(run_dirs: list[Path]) -> dict[str, Any]:
    """Each member's error, their mean, and the ensemble's, per held-out split."""
    members, first = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for run in run_dirs:
            data, out = member(RunDir(run), Path(tmp))
            if first is not None and data != first:
                changed = sorted(k for k in set(data) | set(first) if data.get(k) != first.get(k))
                raise ConfigError(
                    f"{run}: other data options than {run_dirs[0]} ({', '.join(changed)})"
                )
            first = first or data
            members.append(out)
    result: dict[str, Any] = {"runs": [str(r) for r in run_dirs]}
    for s in SPLITS:
        labels = members[0][1][s]
        errors = [error(probs[s], labels) for probs, _ in members]
        mean_probs = torch.stack([probs[s] for probs, _ in members]).mean(0)
        result[s] = {
            "members": errors,
            "mean_member": sum(errors) / len(errors),
            "best_member": min(errors),
            "ensemble": error(mean_probs, labels),
        }
    return result


def main(args: list[str]) -> int:
    p = argparse.ArgumentParser(prog="dltricks ensemble", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="finished run dirs (2 or more)")
    opts = p.parse_args(args)
    if len(opts.runs) < 2:
        return bad_input("an ensemble needs 2 or more run dirs")
    try:
        result = ensemble(opts.runs)
    except BadInput as err:
        return bad_input(str(err))
    print(f"ensemble of {len(opts.runs)} runs (the mean of their predicted probabilities):")
    for s in SPLITS:
        r = result[s]
        print(
            f"  {s} error: members {', '.join(f'{e:.4f}' for e in r['members'])}; mean "
            f"{r['mean_member']:.4f}, best {r['best_member']:.4f}; ensemble {r['ensemble']:.4f} "
            f"(gain over the mean {r['mean_member'] - r['ensemble']:+.4f})"
        )
    return EXIT_OK
