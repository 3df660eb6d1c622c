"""dltricks: a command-line experiment runner for the classic tricks of training deep networks."""

__version__ = "0.1.0"
