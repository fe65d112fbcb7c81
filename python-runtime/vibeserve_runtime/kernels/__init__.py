"""Triton kernels (run on CUDA, and on CPU tensors under TRITON_INTERPRET=1 for tests)."""

import os


def _fix_interpreter_scalar_index() -> None:
    # Triton 3.6's interpreter turns a loaded scalar into int() of a 1-element array, which NumPy 2
    # rejects; kernels with a data-dependent loop bound (context length) then cannot be interpreted.
    try:
        from triton.runtime import interpreter
    except ImportError:
        return
    original = interpreter._patch_lang_tensor

    def patched(tensor, scope):
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.reshape(-1)[0]))

    interpreter._patch_lang_tensor = patched


if os.environ.get("TRITON_INTERPRET") == "1":
    _fix_interpreter_scalar_index()
