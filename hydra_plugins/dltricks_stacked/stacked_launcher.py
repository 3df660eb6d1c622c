"""The `hydra/launcher=stacked` plugin: a Hydra Launcher whose `launch` is dltricks.stacked's.
Hydra imports this module at every start to find its plugins: nothing heavy is imported here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class StackedLauncher(Launcher):
    def __init__(self, max_members: int = 16, force: bool = False) -> None:
        self.max_members, self.force = max_members, force
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.task_function, self.hydra_context = config, task_function, hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Any:
        from dltricks.stacked.launch import launch

        runs: list[JobReturn] = launch(self, job_overrides, initial_job_idx)
        return runs
