"""Serving a fine-tuned model: the SavedModel export with in-graph tokenization (`module`, `text`) and
predictions from an export or a run's model (`predictors`)."""


class ServingError(ValueError):
    """A run, model or export directory that cannot be exported or served; the message says which and why."""
