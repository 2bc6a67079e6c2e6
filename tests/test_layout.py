"""The codebase's one structural rule: services share code only through `feedbackloop/`."""

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[1] / "services"


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_service_imports_another() -> None:
    services = {p.name for p in SERVICES.iterdir() if (p / "__init__.py").is_file()}
    assert {"intake", "router", "followup", "metrics", "signals"} <= services
    crossings = []
    for name in sorted(services):
        for path in sorted((SERVICES / name).rglob("*.py")):
            for module in imported_modules(path):
                parts = module.split(".")
                if parts[0] == "services" and len(parts) > 1 and parts[1] != name:
                    crossings.append(f"{path.relative_to(SERVICES)} imports {module}")
    assert not crossings, "services import each other:\n" + "\n".join(crossings)
