"""Model runtime table: per model and variant (fp32 / int8 ONNX, LiteRT), p50/p99 latency of one inference."""

from __future__ import annotations

import time

import numpy as np

from device.inference import list_models, load_manifest, load_model


def _feeds(man) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {}
    for s in man.inputs:
        shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in s.shape)
        out[s.name] = rng.random(shape).astype(np.dtype(s.dtype))
    return out


def time_model(name: str, variant: str, runs: int = 50, budget_s: float = 10.0) -> dict[str, float]:
    m = load_model(name, variant=variant, cache=False)
    feeds = _feeds(m.manifest)
    times = []
    t_end = time.perf_counter() + budget_s
    for _ in range(runs):
        t0 = time.perf_counter()
        m.run(feeds)
        times.append((time.perf_counter() - t0) * 1000)
        if time.perf_counter() > t_end and len(times) >= 5:
            break
    a = np.array(times)
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)), "n": len(a),
            "runner": m.runner_name, "provider": m.provider}


def bench_variants(man) -> list[str]:
    """The variants of a manifest that run (a data file such as echo_view's view_head is not timed)."""
    return [k for k, v in man.variants.items() if v.runnable]


def bench() -> list[dict]:
    rows = []
    for name in list_models():
        man = load_manifest(name)
        if man.intended_use.lower().startswith("evaluation only"):
            continue  # leave-one-out twins used by make eval, never by the cart
        for variant in bench_variants(man):
            r = time_model(name, variant)
            item = f"{name} {variant} ({r['runner']}, {r['provider'].replace('ExecutionProvider', '')})"
            rows.append({"section": "Model runtime (one inference, batch 1)", "item": item, "metric": "p50 latency",
                         "value": r["p50_ms"], "unit": "ms", "goal": ""})
            rows.append({"section": "Model runtime (one inference, batch 1)", "item": item, "metric": "p99 latency",
                         "value": r["p99_ms"], "unit": "ms", "goal": ""})
    return rows
