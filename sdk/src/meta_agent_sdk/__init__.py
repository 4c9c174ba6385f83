"""MetaAgent SDK: log agent executions and actions to MetaAgent.

The logger itself lands with the SDK issue; this package already carries the
version so the server and the SDK are released together.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
