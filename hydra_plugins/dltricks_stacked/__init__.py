"""dltricks' stacked launcher as a Hydra plugin (`hydra/launcher=stacked`). The launcher
itself is dltricks.stacked's."""
