"""modelform: machine-learning models as infrastructure.

Sub-packages, one per capability: `spec` (loading and validating spec files). The CLI is
`modelform.cli` (console script `modelform`).
"""

__version__ = "0.1.0"
