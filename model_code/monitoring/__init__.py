"""The monitoring job: drift and quality metrics for a deployed model (see `job`)."""
