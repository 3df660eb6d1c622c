"""The names of a run's files, and the folder runs go to by default: written here once, used
by the rest of this package only (tests/test_layout.py checks it)."""

from pathlib import Path

SUMMARY = "summary.json"
METRICS = "metrics.csv"
LAYERS = "layers.csv"
CHECKPOINT = "checkpoint.pt"
HYDRA = ".hydra"
CONFIG = f"{HYDRA}/config.yaml"
OVERRIDES = f"{HYDRA}/overrides.yaml"
HYDRA_YAML = f"{HYDRA}/hydra.yaml"
LOG = "train.log"  # the job's log records (conf/hydra/job_logging/dltricks.yaml)
MULTIRUN = "multirun.yaml"  # Hydra's record of a sweep, in its sweep dir
OUTPUTS = Path("outputs")  # where runs, sweeps and the tools' outputs go by default
CHECKPOINT_FORMAT = "dltricks-checkpoint/1"
PLAN = "plan.json"  # a comparison's (dltricks versus), at the root of its folder
SEARCH_RESULTS = "optimization_results.yaml"  # a search's best trial, in its sweep dir
