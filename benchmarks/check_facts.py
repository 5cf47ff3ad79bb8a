"""Facts a benchmark run must show whatever the machine's speed (CI runs this; timings are never asserted).

    python benchmarks/check_facts.py RESULTS.json

- every requested model × upsample × backend × size was measured, or its backend skipped with a reason;
- the transposed decoder has more parameters than the bilinear one, for every model;
- the INT8 ONNX file is under half the size of the FP32 one (weights stored in 8 bits, not 32).
Exits 1, listing what failed, if any does not hold.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def check_facts(results: dict) -> list[str]:
    config, rows = results["config"], results["rows"]
    failures = [f"{r['model']} {r['upsample']} {r['backend']} {r['size']}: {r['error']}" for r in rows if "error" in r]
    measured = {(r["model"], r["upsample"], r["backend"], r["size"]) for r in rows}
    for model in config["models"]:
        for upsample in config["upsample"]:
            for backend in config["backends"]:
                for size in config["sizes"]:
                    if backend not in results["skipped"] and (model, upsample, backend, size) not in measured:
                        failures.append(f"{model} {upsample} {backend} {size}: not measured and not skipped")
    params = {(r["model"], r.get("head"), r["upsample"]): r["params_m"] for r in rows}
    for model, head in {(r["model"], r.get("head")) for r in rows}:
        bilinear, transposed = params.get((model, head, "bilinear")), params.get((model, head, "transposed"))
        if bilinear is not None and transposed is not None and not transposed > bilinear:
            failures.append(f"{model}: transposed decoder {transposed} M params, not more than bilinear {bilinear} M")
    files = {
        (r["model"], r.get("head"), r.get("output"), r["upsample"], r["size"], r["backend"]): r["file_mb"]
        for r in rows
        if "error" not in r
    }
    for (model, head, output, upsample, size, backend), int8 in files.items():
        fp32 = files.get((model, head, output, upsample, size, "ort"))
        if backend == "ort-int8" and fp32 and not int8 < fp32 / 2:
            failures.append(f"{model} {upsample} {size}: INT8 file {int8:.1f} MB, not under half of FP32 {fp32:.1f} MB")
    return failures


def main() -> None:
    results = json.loads(Path(sys.argv[1]).read_text())
    failures = check_facts(results)
    for failure in failures:
        print(f"FACT FAILED: {failure}")
    if failures:
        sys.exit(1)
    print(f"facts hold for {len(results['rows'])} measurements")


if __name__ == "__main__":
    main()
