"""The SDK's version, sent with every batch so the server can tell SDK releases apart."""

from __future__ import annotations

__version__ = "0.1.0"
SDK_NAME = "metaagent-sdk"
