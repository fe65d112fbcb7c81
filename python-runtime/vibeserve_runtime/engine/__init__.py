"""The serving engine: Engine, stack-spec loading/validation and the component registry."""

from __future__ import annotations

from .engine import Engine
from .registry import get_component, register_component, registered, unregister_component
from .spec import load_stack_spec

__all__ = ["Engine", "load_stack_spec", "register_component", "unregister_component", "get_component", "registered"]
