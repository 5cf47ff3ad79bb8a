"""The Markdown report of a results document: tables, decoder and head ratios, host-side cost, what was skipped."""

from __future__ import annotations

from typing import Any

from edgeseg.bench.environment import describe_machine
from edgeseg.bench.settings import BACKENDS


def _fmt(value: Any, pattern: str) -> str:
    return "—" if value is None else pattern.format(value)


def _ok(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if "error" not in r]


def variant(row: dict[str, Any]) -> str:
    """The model, its head where it has two, and the exported output kind where it is not logits."""
    extra = [p for p in (row.get("head"), row.get("output") if row.get("output") != "logits" else None) if p]
    return f"{row['model']} ({', '.join(extra)})" if extra else row["model"]


def _index(rows: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    return {
        (r["model"], r.get("head", ""), r.get("output", "logits"), r["upsample"], r["backend"], r["size"]): r
        for r in _ok(rows)
    }


_KEY = ("model", "head", "output", "upsample", "backend", "size")  # the fields of an _index key, in order


def _pair_ratios(rows: list[dict[str, Any]], axis: str, base: str, other: str) -> list[tuple[dict, dict, dict]]:
    """(key fields, base row, other row) for every measurement taken with `axis` at both values, and the
    other ÷ base ratios of params, GFLOPs and p50 latency."""
    index = _index(rows)
    position = _KEY.index(axis)
    found = []
    for key, base_row in index.items():
        if key[position] != base:
            continue
        other_row = index.get((*key[:position], other, *key[position + 1 :]))
        if other_row is None:
            continue
        ratios = {
            "params": other_row["params_m"] / base_row["params_m"],
            "gflops": other_row["gflops"] / base_row["gflops"],
            "p50": other_row["p50_ms"] / base_row["p50_ms"],
        }
        found.append((dict(zip(_KEY, key)), base_row, ratios))
    return found


def decoder_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Transposed ÷ bilinear for every model × backend × size measured both ways."""
    return [
        {"model": variant(row), "backend": key["backend"], "size": key["size"], **ratios}
        for key, row, ratios in _pair_ratios(rows, "upsample", "bilinear", "transposed")
    ]


def head_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dense ÷ separable head for every model × upsample × output × backend × size measured both ways."""
    fields = ("model", "upsample", "output", "backend", "size")
    return [
        {**{f: key[f] for f in fields}, **ratios}
        for key, _row, ratios in _pair_ratios(rows, "head", "separable", "dense")
    ]


def speedups(rows: list[dict[str, Any]], reference: str = "torch") -> list[dict[str, Any]]:
    """p50 latency of PyTorch eager ÷ that of each other backend, per model × upsample × size."""
    index = _index(rows)
    found = []
    for (model, head, _output, upsample, backend, size), row in index.items():
        base = index.get((model, head, "logits", upsample, reference, size))
        if backend != reference and base is not None:
            found.append(
                {
                    "model": variant(row),
                    "upsample": upsample,
                    "size": size,
                    "backend": backend,
                    "x": base["p50_ms"] / row["p50_ms"],
                }
            )
    return found


def markdown(results: dict[str, Any], charts: list[str] = ()) -> str:
    """The report of `results`: its sections in order, each only where the run measured what it needs."""
    rows = _ok(results["rows"])
    lines = _header(results) + _latency(results)
    lines += _decoders(results["rows"]) + _heads(results["rows"]) + _speedups(results["rows"])
    lines += _against_onnxruntime(results["rows"])
    lines += _end_to_end(rows, results["config"]) + _not_measured(results)
    if charts:
        lines += ["", "## Charts", ""] + [f"![{c}]({c})" for c in charts]
    return "\n".join(lines) + "\n"


def _header(results: dict[str, Any]) -> list[str]:
    config = results["config"]
    threads = config["threads"] or f"all ({results['machine']['cores']})"
    return [
        "# edgeseg bench",
        "",
        f"{describe_machine(results['machine'])}; commit {results['commit']}; {results['created']}.",
        f"Batch {config['batch']}, {threads} threads, {config['warmup']} warm-up then {config['runs']} timed runs "
        f"per row; {config['num_classes']} classes; untrained weights (latency depends on shapes, not values). "
        "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + ".",
        *([f"Rerun: `{results['command']}`."] if results.get("command") else []),
    ]


def _section(title: str, intro: str, columns: str, body: list[str]) -> list[str]:
    """A report section: its title, what it shows, and its table; `columns` as "a | b | n:" (":" right-aligns)."""
    names = [c.strip() for c in columns.split("|")]
    head = "| " + " | ".join(n.rstrip(":") for n in names) + " |"
    rule = "| " + " | ".join("---:" if n.endswith(":") else "---" for n in names) + " |"
    return ["", f"## {title}", "", intro, "", head, rule, *body]


def _latency(results: dict[str, Any]) -> list[str]:
    intro = (
        f"Latency is host to host (NumPy in, NumPy out, copies included), over {results['config']['runs']} runs: "
        "with fewer than 100, p99 is about the slowest run. GFLOPs count a multiply-add as two. GFLOP/s achieved is "
        "the model's GFLOPs ÷ p50 latency (for INT8 rows, the same operations in 8 bits); "
        "'of peak' compares FP32 rows with the best large FP32 matrix product on the same device "
        + ", ".join(f"({d}: {g:.0f} GFLOP/s)" for d, g in results["peak_gflops"].items() if g)
        + " (a measured, not a theoretical, peak: well-tuned convolutions can beat it). Memory: the measuring "
        "process's peak resident memory above what it held once its framework was imported (GPU: PyTorch's peak "
        "allocation; other GPU backends show host memory only)."
    )
    columns = (
        "model | upsample | backend | size: | params M: | GFLOPs: | file MB: | mean ms: | p50 ms: | p90 ms: "
        "| p99 ms: | img/s: | GFLOP/s: | of peak: | memory MB:"
    )
    return _section("Latency", intro, columns, [_latency_line(r) for r in _ok(results["rows"])])


def _latency_line(r: dict[str, Any]) -> str:
    return (
        f"| {variant(r)} | {r['upsample']} | {backend_cell(r)} | {r['size']} | {r['params_m']:.2f} "
        f"| {r['gflops']:.1f} | {_fmt(r['file_mb'], '{:.1f}')} | {r['mean_ms']:.2f} | {r['p50_ms']:.2f} "
        f"| {r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['throughput_ips']:.2f} | {r['achieved_gflops']:.0f} "
        f"| {_fmt(r.get('share_of_peak'), '{:.0%}')} | {_memory(r)} |"
    )


def backend_cell(row: dict[str, Any]) -> str:
    """The row's backend, and for OpenVINO the precision it ran in where that is not the one asked for (a bf16
    hint runs f32 on a CPU without AMX or AVX-512 BF16)."""
    ran = row.get("backend_settings", {}).get("precision")
    setting = BACKENDS.get(row["backend"])
    asked = setting.precision_hint if setting else None
    return f"{row['backend']} (runs {ran})" if asked and ran and ran != asked else row["backend"]


def against_onnxruntime(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ONNX Runtime CPU FP32 p50 ÷ each OpenVINO row's p50, per model × output × upsample × size."""
    index = _index(rows)
    found = []
    for (model, head, output, upsample, backend, size), row in index.items():
        base = index.get((model, head, output, upsample, "ort", size))
        if backend.startswith("openvino") and base is not None:
            found.append({"model": variant(row), "upsample": upsample, "size": size, "backend": backend_cell(row),
                          "x": base["p50_ms"] / row["p50_ms"]})  # fmt: skip
    return found


def _against_onnxruntime(rows: list[dict[str, Any]]) -> list[str]:
    faster = against_onnxruntime(rows)
    if not faster:
        return []
    intro = (
        "ONNX Runtime CPU FP32 p50 ÷ the OpenVINO row's p50, the same file format in the same run (above 1: faster)."
    )
    body = [f"| {s['model']} | {s['upsample']} | {s['size']} | {s['backend']} | {s['x']:.2f}× |" for s in faster]
    return _section("OpenVINO against ONNX Runtime", intro, "model | upsample | size: | backend | speed-up:", body)


def _memory(row: dict[str, Any]) -> str:
    if "gpu_peak_mb" in row:
        return f"{row['gpu_peak_mb']:.0f} (GPU)"
    on_gpu = row["backend"] in BACKENDS and BACKENDS[row["backend"]].device == "cuda"
    return f"{row['memory_mb']:.0f}{' (host)' if on_gpu else ''}"


def _ratios(title: str, intro: str, ratios: list[dict[str, Any]], keys: str, digits: int) -> list[str]:
    """A section of other ÷ base ratios (params, GFLOPs, p50) per measurement, `keys` naming its first columns."""
    if not ratios:
        return []
    names = [k.strip().rstrip(":") for k in keys.split("|")]
    body = [
        "| "
        + " | ".join([*(str(q[n]) for n in names), *(f"{q[m]:.{digits}f}×" for m in ("params", "gflops", "p50"))])
        + " |"
        for q in ratios
    ]
    return _section(title, intro, f"{keys} | params: | GFLOPs: | p50 latency:", body)


def _decoders(rows: list[dict[str, Any]]) -> list[str]:
    intro = "Transposed ÷ bilinear, same encoder, same backend and size (above 1: the transposed decoder costs more)."
    return _ratios("Bilinear vs transposed decoders", intro, decoder_ratios(rows), "model | backend | size:", 3)


def _heads(rows: list[dict[str, Any]]) -> list[str]:
    intro = "Dense ÷ separable, same backbone, decoder, backend and size (above 1: the dense head costs more)."
    keys = "model | upsample | output | backend | size:"
    return _ratios("Separable vs dense DeepLabV3+ heads", intro, head_ratios(rows), keys, 2)


def _speedups(rows: list[dict[str, Any]]) -> list[str]:
    faster = speedups(rows)
    if not faster:
        return []
    intro = "PyTorch eager p50 ÷ the backend's p50, in the same run (above 1: faster than PyTorch)."
    body = [f"| {s['model']} | {s['upsample']} | {s['size']} | {s['backend']} | {s['x']:.2f}× |" for s in faster]
    return _section("Against PyTorch eager", intro, "model | upsample | size: | backend | speed-up:", body)


def _end_to_end(rows: list[dict[str, Any]], config: dict[str, Any]) -> list[str]:
    e2e = [r for r in rows if "e2e_fps" in r]
    if not e2e:
        return []
    intro = (
        "Raw: the backend alone, back to back (the ceiling). End to end: the runtime's pipeline (decode, "
        f"letterbox, infer, argmax (unless in the graph) + un-letterbox, overlay) over {config['e2e_frames']} "
        "frames of a generated 640×480 video to a null sink; its stages overlap on threads. Host: the same "
        "steps one at a time on one thread, per frame (p50): what the host pays around inference."
    )
    columns = (
        "model | upsample | backend | size: | raw FPS: | end-to-end FPS: | ratio: | infer p50 ms: | host pre ms: "
        "| host post ms: | host render ms: | host total ms:"
    )
    body = [
        f"| {variant(r)} | {r['upsample']} | {r['backend']} | {r['size']} | {r['throughput_ips']:.1f} "
        f"| {r['e2e_fps']:.1f} | {r['e2e_ratio']:.1%} | {r['e2e_stages']['infer']['p50_ms']:.1f} "
        f"| {_fmt(r.get('host_pre_ms'), '{:.2f}')} | {_fmt(r.get('host_post_ms'), '{:.2f}')} "
        f"| {_fmt(r.get('host_render_ms'), '{:.2f}')} | {_fmt(r.get('host_ms'), '{:.2f}')} |"
        for r in e2e
    ]
    return _section("`edgeseg run` end to end vs raw inference", intro, columns, body)


def _not_measured(results: dict[str, Any]) -> list[str]:
    """Backends skipped, rows that failed, end-to-end measurements that failed or could not be taken."""
    failed = []
    for r in results["rows"]:
        where = f"{variant(r)} {r['upsample']} {r['backend']} {r['size']}"
        if "error" in r:
            failed.append(f"- {where}: {r['error']}")
        elif "e2e_error" in r:
            failed.append(f"- {where} end to end: {r['e2e_error']}")
    config = results["config"]
    if config["batch"] > 1 and config["e2e_frames"]:
        failed.append("- end to end: not measured at batch > 1 (the runtime infers one frame at a time)")
    if not (results["skipped"] or failed):
        return []
    return ["", "## Not measured", ""] + [f"- {name}: {why}" for name, why in results["skipped"].items()] + failed
