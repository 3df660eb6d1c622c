"""Models take plain arguments: shapes, sizes and layer factories (never the config)."""
