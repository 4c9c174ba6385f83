"""The distribution: a small documented public surface, stdlib only, never the server."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import meta_agent_sdk

SDK_ROOT = Path(__file__).resolve().parents[1]


def test_importing_pulls_in_only_the_standard_library():
    code = textwrap.dedent(
        """
        import sys
        before = set(sys.modules)
        import meta_agent_sdk
        new = {m.split(".")[0] for m in set(sys.modules) - before}
        print(",".join(sorted(new)))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.strip().split(","))
    assert {"meta_agent", "api", "realtime", "dagster_project"}.isdisjoint(loaded)
    third_party = loaded - set(sys.stdlib_module_names) - {"meta_agent_sdk", "_distutils_hack"}
    assert not third_party, third_party


def test_the_public_surface_is_small_and_every_public_callable_has_a_docstring():
    assert sorted(meta_agent_sdk.__all__) == sorted(
        [
            "Action",
            "AgentLogger",
            "CircuitOpenError",
            "CircuitState",
            "Execution",
            "SanitizeConfig",
            "Stats",
            "__version__",
            "current_execution",
        ]
    )
    for name in meta_agent_sdk.__all__:
        obj = getattr(meta_agent_sdk, name)
        if name == "__version__":
            continue
        assert inspect.getdoc(obj), name
        if inspect.isclass(obj):
            for member, value in vars(obj).items():
                if member.startswith("_") or not (callable(value) or isinstance(value, property)):
                    continue
                assert inspect.getdoc(value), f"{name}.{member}"


def test_the_distribution_carries_version_types_and_licence():
    pyproject = (SDK_ROOT / "pyproject.toml").read_text()
    assert f'version = "{meta_agent_sdk.__version__}"' in pyproject
    assert "dependencies = []" in pyproject
    assert (SDK_ROOT / "src" / "meta_agent_sdk" / "py.typed").exists()
    assert "Apache License" in (SDK_ROOT / "LICENSE").read_text()
    assert "AgentLogger" in (SDK_ROOT / "README.md").read_text()


def test_no_source_file_uses_syntax_newer_than_python_3_9():
    for path in (SDK_ROOT / "src").rglob("*.py"):
        source = path.read_text()
        assert "from __future__ import annotations" in source or path.name == "__init__.py", path
        ast.parse(source, str(path), feature_version=(3, 9))
