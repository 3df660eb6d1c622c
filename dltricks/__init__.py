"""dltricks: a command-line experiment runner for the classic tricks of training deep networks.

From Python: `from dltricks import api`, then api.train, api.sweep, api.runs, api.metrics and
api.report (dltricks/api.py); dltricks.train, .sweep and .report are the modules of the
command line's own code, so the functions live in their own module. Importing dltricks
imports neither torch nor Hydra.
"""

__version__ = "0.1.0"
