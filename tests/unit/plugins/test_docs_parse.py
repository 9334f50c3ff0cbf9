"""Every plugin's documentation is YAML that parses (ansible-doc, the Galaxy build and antsibull-changelog all need it;
a ': ' inside a plain list item is enough to break it). `make doc` renders them; this catches it in seconds."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3] / "plugins"


def _python_docs(path):
    tree = ast.parse(path.read_text())
    return {node.targets[0].id: node.value.value for node in tree.body
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN") and isinstance(node.value, ast.Constant)}


@pytest.mark.parametrize("path", sorted((ROOT / "modules").glob("*.py")) + [ROOT / "filter" / "json_query.py"],
                         ids=lambda p: p.name)
def test_python_plugin_docs_parse(path):
    docs = _python_docs(path)
    assert "DOCUMENTATION" in docs, path
    for name, text in docs.items():
        assert isinstance(yaml.safe_load(text), (dict, list)), (path, name)


@pytest.mark.parametrize("path", sorted((ROOT / "filter").glob("*.yml")), ids=lambda p: p.name)
def test_filter_docs_parse(path):
    data = yaml.safe_load(path.read_text())
    assert set(data) >= {"DOCUMENTATION", "EXAMPLES", "RETURN"}, path
    yaml.safe_load(data["EXAMPLES"])
