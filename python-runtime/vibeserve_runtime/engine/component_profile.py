"""Where a decode forward's device time goes, component by component: attention, linear, moe, other.

The search reads these shares to decide which dimension's alternatives deserve a candidate (the
architect's device moves): a stack whose decode forward spends 60% of its GPU time in attention gains
more from another attention kernel than from another weight format. One decode forward is re-run
under torch.profiler with each component's calls inside a labelled range. On a GPU the device is
drained at every range boundary, so each kernel runs inside the host span of the range that
launched it and is attributed by time, whichever way it was launched (Triton's launcher bypasses
the CUDA runtime calls the profiler otherwise correlates kernels by). A range's device time is the
sum of its kernels' durations, so the shares describe the kernels a CUDA graph replays, not the
gaps an eager launch loop leaves between them. On a CPU the ranges' own times are used. The re-run writes the same K/V to the same cache slots as the real step after it,
so it changes nothing the engine computes.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager

import torch
from torch.autograd.profiler import record_function
from torch.profiler import ProfilerActivity, profile

PREFIX = "vibeserve/"
FORWARD = PREFIX + "forward"


def tag(module, component: str):
    """Marks a module built by a component factory (engine.model_parts) so the profile can find it."""
    module.profiled_as = component
    return module


class _Range:
    """A labelled profiler range, with the device drained at both ends when `drain` is set."""

    def __init__(self, label: str, drain: bool):
        self.label, self.drain, self._r = label, drain, None

    def __enter__(self):
        if self.drain:
            torch.cuda.synchronize()
        self._r = record_function(self.label)
        self._r.__enter__()

    def __exit__(self, *exc):
        if self.drain:
            torch.cuda.synchronize()
        self._r.__exit__(*exc)


class _LabelledCall:
    """A component callable (the attention backend) whose calls run inside a labelled range."""

    def __init__(self, fn, label: str, drain: bool):
        self.fn, self.label, self.drain = fn, label, drain

    def __call__(self, *args, **kwargs):
        with _Range(self.label, self.drain):
            return self.fn(*args, **kwargs)


def _outermost_tagged(model) -> list:
    """Tagged modules that are not inside another tagged module (a MoE block's expert linears count as moe)."""
    out, inside = [], []
    for name, m in model.named_modules():
        if getattr(m, "profiled_as", None) is None or any(name.startswith(p + ".") for p in inside):
            continue
        inside.append(name)
        out.append(m)
    return out


@contextmanager
def labelled_components(model, drain: bool = False):
    """Every attention call and every tagged module's forward inside a `vibeserve/<component>` range."""
    with ExitStack() as stack:
        for layer in model.attention_layers:
            original = layer.attn
            layer.attn = _LabelledCall(original, PREFIX + "attention", drain)
            stack.callback(setattr, layer, "attn", original)
        for m in _outermost_tagged(model):
            ranges = []

            def enter(mod, args, ranges=ranges):
                r = _Range(PREFIX + mod.profiled_as, drain)
                r.__enter__()
                ranges.append(r)

            def leave(mod, args, out, ranges=ranges):
                ranges.pop().__exit__(None, None, None)

            stack.callback(m.register_forward_pre_hook(enter).remove)
            stack.callback(m.register_forward_hook(leave).remove)
        yield


def _range_times(prof, on_device: bool) -> dict[str, float]:
    """Total time per label: on a GPU the durations of the kernels that started inside its host
    span (innermost range), on a CPU its own span."""
    spans, kernels = [], []
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CPU:
            if e.name.startswith(PREFIX):
                spans.append((e.name[len(PREFIX) :], e.time_range.start, e.time_range.end))
        elif not e.name.startswith(PREFIX):  # a range's own device-side annotation is not a kernel
            kernels.append((e.time_range.start, e.time_range.elapsed_us()))
    totals: dict[str, float] = {}
    if not on_device:
        for name, start, end in spans:
            totals[name] = totals.get(name, 0.0) + (end - start)
        return totals
    components = [s for s in spans if s[0] != "forward"]
    whole = [s for s in spans if s[0] == "forward"]
    for start, dur in kernels:
        if whole and whole[0][1] <= start <= whole[0][2]:
            totals["forward"] = totals.get("forward", 0.0) + dur
        inside = [s for s in components if s[1] <= start <= s[2]]
        if inside:
            name = min(inside, key=lambda s: s[2] - s[1])[0]
            totals[name] = totals.get(name, 0.0) + dur
    outside = sum(d for _, d in kernels) - totals.get("forward", 0.0)
    if outside > 0.1 * sum(d for _, d in kernels):
        return {}  # device and host clocks disagree: no attribution rather than a wrong one
    return totals


def component_shares(model, forward, device: torch.device) -> dict[str, float]:
    """Runs `forward()` (one decode forward of `model`) under the profiler; returns
    {decode_device_share_<component>: share of the forward's device time}, with `other` for the
    rest, or {} when nothing could be attributed (e.g. a compiled forward, whose ranges vanish)."""
    on_device = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_device else [])
    for _ in range(2):  # the first pass pays the profiler's own start-up inside the ranges; the second is kept
        with labelled_components(model, drain=on_device), profile(activities=activities) as prof:
            with _Range(FORWARD, on_device):
                forward()
    totals = _range_times(prof, on_device)
    whole = totals.pop("forward", 0.0)
    if whole <= 0 or not any(totals.values()):
        return {}
    shares = {name: min(1.0, t / whole) for name, t in sorted(totals.items())}
    shares["other"] = max(0.0, 1.0 - sum(shares.values()))
    return {f"decode_device_share_{name}": round(v, 4) for name, v in shares.items()}
