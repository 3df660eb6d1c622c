"""The `hydra/sweeper=search` plugin: a Hydra Sweeper whose `sweep` is dltricks.search's loop,
on the sweep's own launcher. Hydra imports this module at every start to find its plugins:
nothing heavy is imported here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


class SearchSweeper(Sweeper):
    """hydra.sweeper's keys (conf/hydra/sweeper/search.yaml) are its arguments."""

    def __init__(self, **keys: Any) -> None:
        self.keys = keys
        self.config: DictConfig | None = None
        self.launcher: Any = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> None:
        from dltricks import config as configs
        from dltricks.search import driver, settings

        assert self.config is not None
        s = settings(OmegaConf.create(self.keys))
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")  # Hydra's record of a sweep
        base = configs.load([a for a in arguments if not configs.is_swept(a)])
        driver.run(s, base, self.launcher, arguments, sweep_dir)
