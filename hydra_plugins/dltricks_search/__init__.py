"""dltricks' search as a Hydra sweeper plugin (`hydra/sweeper=search`): Hydra finds it in the
hydra_plugins namespace package. The search itself is dltricks.search's."""
