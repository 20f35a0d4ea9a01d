"""Every module the package imports at load time is one pyproject.toml promises to install.

The demo runs on a plain install (no test extras), where a module that only a test tool brings
along (click, once Typer stopped depending on it) is missing: this test names such an import.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "valuestream"
# Distribution name -> the module it installs, where the two differ.
MODULE_OF = {"pyyaml": "yaml", "vl-convert-python": "vl_convert"}
# Modules the declared dependencies install themselves (pydantic brings pydantic_core, and so on).
BROUGHT = {"pydantic_core", "annotated_types", "typing_extensions"}


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]]
    return {MODULE_OF.get(n, n.replace("-", "_")) for n in names} | BROUGHT


def _load_time_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:  # module level only: imports inside functions load on use
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_plain_install_has_every_module_the_package_loads() -> None:
    allowed = _declared() | set(sys.stdlib_module_names) | {"valuestream", "__future__"}
    missing = {}
    for path in PACKAGE.rglob("*.py"):
        if "web" in path.relative_to(PACKAGE).parts:
            continue  # the web extra's own modules load only under 'valuestream serve'
        extra = _load_time_imports(path) - allowed
        if extra:
            missing[str(path.relative_to(ROOT))] = sorted(extra)
    assert missing == {}
