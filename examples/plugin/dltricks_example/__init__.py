"""A dltricks plugin, as a user writes one: a dataset read from a CSV file, a model, an
activation and an optimizer, each an option of dltricks' config groups (see conf/)."""
