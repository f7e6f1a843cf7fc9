"""The layers of `src/tsvq`, held: no import cycle (counting imports under `TYPE_CHECKING` and
inside functions), imports only downwards between packages, argparse only in the command line,
and function-local imports only for optional extras and the lazy command table.

The floors, lowest first (docs/architecture.md draws them):
  base      errors, config, trust, files, reach (the flat modules of `tsvq`)
  runtime   device, distributed, CPU threads, progress, signals
  data      registry, CSV reading, splits, windows, downloads    } neither imports the other
  model     VQ-VAE, quantizer, patch convolutions, RevIN, memory }
  run       the run record, checkpoints, the run folder's lock, TOTEM's names
  train     the loop, TensorBoard                                } neither imports the other
  tokens    Tokenizer, export, inputs, gaps, units, tokens files }
  report    evaluate, plot                                   } neither imports the other
  forecast  the forecaster on frozen tokens, its training,   }
            file, evaluation and predictions
  cli       one module per command
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tsvq"
FLOORS = {
    "base": 0,
    "runtime": 1,
    "data": 2,
    "model": 2,
    "run": 3,
    "train": 4,
    "tokens": 4,
    "report": 5,
    "forecast": 5,
    "cli": 6,
}
# imported inside a function below the command line: packages a user may not have installed
OPTIONAL = ("matplotlib", "tensorboard", "torch.utils.tensorboard", "resource")


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in sorted(SRC.rglob("*.py"))}


def _package(module: str) -> str:
    """The floor a module lives on: its sub-package, or "base" for tsvq's flat modules."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (SRC / parts[1]).is_dir() else "base"


def _imports(path: Path) -> list[tuple[str, bool]]:
    """Every import in a file, absolute, with whether it sits inside a function."""
    here = _module(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((a.name, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package[: len(package) - child.level + 1] + [base]).strip(".")
                for a in child.names:  # `from tsvq.run import checkpoint` imports a module
                    name = f"{base}.{a.name}"
                    found.append((name if name in MODULES else base, in_function))
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


GRAPH = {m: {i for i, _ in _imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}


def test_the_packages_are_found() -> None:
    assert {_package(m) for m in MODULES} == set(FLOORS)
    assert {
        "tsvq.train.loop",
        "tsvq.report.evaluate",
        "tsvq.tokens.tokenizer",
        "tsvq.run.checkpoint",
        "tsvq.data.registry",
        "tsvq.model.vqvae",
    } <= set(MODULES)


def _cycle() -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(GRAPH[m]):
            if state.get(n) == 1:
                return path[path.index(n) :] + [n]
            if n not in state and (found := visit(n)):
                return found
        state[m] = 2
        path.pop()
        return None

    for m in sorted(GRAPH):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_cycle() -> None:
    assert _cycle() is None, " -> ".join(_cycle() or [])


def test_a_cycle_would_be_found() -> None:
    GRAPH["tsvq.errors"].add("tsvq.run.checkpoint")  # what errors.py once imported
    try:
        assert _cycle() is not None
    finally:
        GRAPH["tsvq.errors"].discard("tsvq.run.checkpoint")


def _upward(module: str) -> list[str]:
    """Imports of `module` that point to its own floor's other package or to a higher floor."""
    here = _package(module)
    if module in ("tsvq", "tsvq.__main__"):  # the package's doors: the lazy API, the command
        return []
    return sorted(
        i for i in GRAPH[module] if _package(i) != here and FLOORS[_package(i)] >= FLOORS[here]
    )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_downwards(module: str) -> None:
    assert _upward(module) == []


def test_the_model_and_the_data_layer_know_nothing_of_each_other() -> None:
    pairs = {(_package(m), _package(i)) for m in GRAPH for i in GRAPH[m]}
    assert ("model", "data") not in pairs and ("data", "model") not in pairs


BELOW_CLI = sorted(m for m in MODULES if _package(m) != "cli" and m != "tsvq.__main__")


@pytest.mark.parametrize("module", BELOW_CLI)
def test_no_argparse_and_no_cli_below_the_command_line(module: str) -> None:
    names = [i for i, _ in _imports(MODULES[module])]
    if module == "tsvq":  # `tsvq.fit` is `tsvq train` from Python: loaded on first use only
        assert ("tsvq.cli.fit", False) not in _imports(MODULES[module])
        names = [n for n in names if n != "tsvq.cli.fit"]
    assert "argparse" not in names
    assert not any(n == "tsvq.cli" or n.startswith("tsvq.cli.") for n in names), names


@pytest.mark.parametrize("module", BELOW_CLI)
def test_function_local_imports_only_for_optional_extras(module: str) -> None:
    local = [i for i, in_function in _imports(MODULES[module]) if in_function]
    if module == "tsvq":  # `tsvq.Tokenizer` loads torch on first use, not on `import tsvq`
        local = [i for i in local if not i.startswith("tsvq.")]
    assert [i for i in local if not i.startswith(OPTIONAL)] == []
