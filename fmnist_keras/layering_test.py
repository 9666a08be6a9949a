"""The package's layers only point down: no module imports from a layer above its own
(function-level imports included), so there is no import circle to hide."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
LAYERS = [
    {"hardware", "timing"},
    {"models", "data"},
    {"config"},
    {"train"},
    {"search"},
    {"deploy", "report"},
    {"cli", "__main__", "__init__", "testing"},
]


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    return next(index for index, names in enumerate(LAYERS) if top in names)


def imported_modules(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and \
                node.module.startswith("fmnist_keras"):
            names = [node.module] if node.module != "fmnist_keras" else \
                [f"fmnist_keras.{alias.name}" for alias in node.names]
            yield from names
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("fmnist_keras."))


def test_no_module_imports_from_a_higher_layer():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if path.name.endswith("_test.py") or path.name == "conftest.py":
            continue
        own = layer_of(".".join(relative.with_suffix("").parts))
        for module in imported_modules(path):
            target = module.removeprefix("fmnist_keras.")
            if target and layer_of(target) > own:
                upward.append(f"{relative} imports {module}")
    assert upward == []
