"""The user's model builder and data loader, named by an import string or passed as functions.

``pkg.module:build`` imports a module; ``path/to/file.py:build`` loads a file (its folder goes on
``sys.path``, so the file may import its neighbours). Built-in names (``small``, ``fashion_mnist``)
resolve to tune-mtl's own builders and loaders, which use the same interface. On a Ray cluster the
workers need the user's code too: `UserCode.ship` lists what `ray.init(runtime_env=...)` uploads
as ``py_modules`` (the file, or the package's folder), unless it is installed in site-packages.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import os
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tune_mtl.errors import TuneMtlError, UserCodeError

__all__ = [
    "BUILTIN_MODELS",
    "BUILTIN_DATA",
    "UserCode",
    "call_user",
    "resolve_function",
    "reference_of",
]

BUILTIN_MODELS = ("small", "seed", "lenet")
BUILTIN_DATA = ("fashion_mnist", "cifar10", "synthetic", "multi_fashion")


@dataclass(frozen=True)
class UserCode:
    """A resolved function, the string that names it again (None for a notebook's function), and
    the local paths Ray must ship to workers for it to unpickle there."""

    function: Callable[..., Any]
    reference: str | None
    ship: tuple[str, ...] = field(default=())


def _installed(path: Path) -> bool:
    roots = {sysconfig.get_paths()[key] for key in ("purelib", "platlib", "stdlib")}
    return any(path.is_relative_to(Path(root).resolve()) for root in roots)


def _module_ship(module: Any) -> tuple[str, ...]:
    """What to upload so that workers can import ``module``: its top package's folder or file."""
    top = sys.modules.get(module.__name__.split(".")[0], module)
    location = getattr(top, "__file__", None)
    if location is None:  # a namespace package: a folder without __init__.py
        folders = list(getattr(top, "__path__", []))
        if not folders:
            return ()
        location = str(Path(folders[0]) / "__init__.py")
    path = Path(location).resolve()
    if path.name == "__init__.py":
        path = path.parent
    if _installed(path) or path.is_relative_to(Path(__file__).resolve().parent):
        return ()
    return (str(path),)


def _load_file(path: Path, *, flag: str) -> Any:
    if not path.is_file():
        raise TuneMtlError(f"{flag} names {path}, which does not exist; pass an existing .py file.")
    name = path.stem
    folder = str(path.parent.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    existing = sys.modules.get(name)
    if (
        existing is not None
        and Path(getattr(existing, "__file__", "") or "").resolve() == path.resolve()
    ):
        return existing
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TuneMtlError(f"{flag} {path} cannot be loaded as Python; pass a .py file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's module may raise anything at import
        del sys.modules[name]
        raise TuneMtlError(
            f"{flag} {path} raised {type(error).__name__} on import: {error}; fix the file."
        ) from error
    return module


def _import_here(target: str) -> Any:
    """Imports module ``target``, also from the current folder as ``python -m`` would: the
    `tune-mtl` script's own folder, not the user's, heads ``sys.path``."""
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as error:
        here = os.getcwd()
        if error.name != target.split(".")[0] or here in sys.path:
            raise
        sys.path.append(here)
        return importlib.import_module(target)


def reference_of(function: Callable[..., Any]) -> str | None:
    """``module:name`` of an importable function; None for one defined in ``__main__``."""
    module = getattr(function, "__module__", None)
    name = getattr(function, "__qualname__", None)
    if module in (None, "__main__") or name is None or "<" in name:
        return None
    return f"{module}:{name}"


def resolve_function(
    given: str | Callable[..., Any], *, flag: str, builtins: dict[str, Callable[..., Any]]
) -> UserCode:
    """Turns a built-in name, ``module:function``, ``file.py:function`` or a function into one.

    Args:
        given: what the user passed.
        flag: how the user passed it (``--model``), for messages.
        builtins: built-in names and their functions.
    """
    if callable(given):
        module = sys.modules.get(getattr(given, "__module__", "") or "")
        if module is None or module.__name__ == "__main__":
            return UserCode(given, None)  # pickled by value: nothing to ship
        return UserCode(given, reference_of(given), _module_ship(module))
    if not isinstance(given, str):
        raise TuneMtlError(f"{flag} must be a name or a function, but got {type(given).__name__}.")
    if given in builtins:
        return UserCode(builtins[given], given)
    if ":" not in given:
        raise TuneMtlError(
            f"{flag} {given!r} is neither built in ({', '.join(builtins)}) nor "
            "`module:function` / `path/to/file.py:function`; name the function after a colon."
        )
    target, _, attribute = given.rpartition(":")
    if target.endswith(".py"):
        path = Path(target).expanduser().resolve()
        module = _load_file(path, flag=flag)
        reference = f"{path}:{attribute}"
        ship: tuple[str, ...] = (str(path),)
    else:
        try:
            module = _import_here(target)
        except ImportError as error:
            raise TuneMtlError(
                f"{flag} {given!r}: module {target!r} cannot be imported ({error}); install it, "
                "run from its folder, or pass path/to/file.py:function."
            ) from error
        reference = given
        ship = _module_ship(module)
    function = getattr(module, attribute, None)
    if not callable(function):
        found = [
            n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_")
        ]
        raise TuneMtlError(
            f"{flag} {given!r}: {target} has no function {attribute!r} "
            f"(its functions: {', '.join(found) or 'none'})."
        )
    return UserCode(function, reference, ship)


def bind(code: UserCode, **keywords: Any) -> UserCode:
    """The same code with keyword arguments fixed (a built-in's input shape or data folder)."""
    return UserCode(functools.partial(code.function, **keywords), code.reference, code.ship)


def function_name(function: Callable[..., Any]) -> str:
    """How a message names the user's function: its own name, through `bind`'s partials."""
    while isinstance(function, functools.partial):
        function = function.func
    return getattr(function, "__name__", type(function).__name__)


def call_user(function: Callable[..., Any], *args: Any, role: str, name: str) -> Any:
    """Calls the user's ``function``; whatever it raises becomes one line naming ``role`` (``the
    model builder``), ``name``, the exception and the fix."""
    try:
        return function(*args)
    except TuneMtlError:
        raise
    except Exception as error:  # the user's code may raise anything; say which and where
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise UserCodeError(
            f"{role} {name!r} raised {type(error).__name__}: {message.rstrip('.')}; fix it."
        ) from error
