"""One name, one model: the registry behind `build_model`.

Families (a builder whose keyword arguments are its search space) register with
`@register_family`; named models of the spec are presets, plain data bound to a
family with `register_presets`. Duplicate names are refused rather than silently
replaced.
"""

from __future__ import annotations

import fnmatch
import functools

_BUILDERS: dict[str, callable] = {}
_FAMILIES: dict[str, callable] = {}


def _add(name: str, builder) -> None:
    if name in _BUILDERS:
        raise ValueError(f"A model named {name!r} is already registered.")
    _BUILDERS[name] = builder


def register_family(name: str):
    """Decorator: registers a family builder under ``name`` (buildable by that name)."""

    def decorate(builder):
        _add(name, builder)
        _FAMILIES[name] = builder
        return builder

    return decorate


def register_presets(family_builder, presets: dict[str, dict]) -> None:
    """Registers each ``name: kwargs`` as ``family_builder(**kwargs, name=name)``."""
    for preset_name, preset_kwargs in presets.items():
        _add(preset_name, functools.partial(family_builder, **preset_kwargs,
                                            name=preset_name))


def list_models(pattern: str = "*", families: bool = False) -> list[str]:
    """Registered names matching a glob, presets only unless ``families`` is set."""
    names = _FAMILIES if families else [n for n in _BUILDERS if n not in _FAMILIES]
    return sorted(n for n in names if fnmatch.fnmatch(n, pattern))


def family_builder(name: str):
    """The builder of a family (``resnet``, ``mnist_net``...) for searches."""
    if name not in _FAMILIES:
        raise ValueError(f"Unknown model family {name!r}; known families: "
                         f"{', '.join(sorted(_FAMILIES))}.")
    return _FAMILIES[name]


def build_model(name: str, input_shape=(28, 28, 1), num_classes: int = 10, **kwargs):
    """Builds a registered model or family by name.

    Keyword arguments that are None are dropped, so that unset command-line flags
    never override a preset's values.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in _BUILDERS:
        raise ValueError(
            f"Unknown architecture {name!r}; known architectures: "
            f"{', '.join(list_models())}; families: {', '.join(sorted(_FAMILIES))}."
        )
    kwargs = {key: value for key, value in kwargs.items() if value is not None}
    return _BUILDERS[name](input_shape=input_shape, num_classes=num_classes, **kwargs)
