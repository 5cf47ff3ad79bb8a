"""What the CPU is: its vendor, its model and the instruction sets OpenVINO's fast paths need.

Read from /proc/cpuinfo (Linux: the kernel lists what the CPU and the hypervisor let a program use), else from
`platform.processor()` (Windows names the vendor there, e.g. "Intel64 Family 6 … GenuineIntel"). No library
is imported: `open_model` asks this to choose a backend, `edgeseg doctor` to report, the benchmarks to record.

The instruction sets that decide OpenVINO's CPU speed:
- AVX-512 VNNI (`avx512_vnni`) or AVX-VNNI (`avx_vnni`): INT8 dot products in one instruction;
- AVX-512 BF16 (`avx512_bf16`) and AMX (`amx_tile` with `amx_bf16` / `amx_int8`, Xeon Sapphire Rapids and
  later): bfloat16 and INT8 matrix tiles. OpenVINO runs bf16 by default only where the CPU has them.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
CPUINFO_ENV = "EDGESEG_CPUINFO"  # another file to read instead (tests give a copy of an Intel machine's)
# Flag → what `edgeseg doctor` and the benchmarks call it, in the order they are listed.
NAMED_FLAGS = {
    "avx2": "AVX2",
    "avx512f": "AVX-512",
    "avx_vnni": "AVX-VNNI",
    "avx512_vnni": "AVX-512 VNNI",
    "avx512_bf16": "AVX-512 BF16",
    "avx512_fp16": "AVX-512 FP16",
    "amx_tile": "AMX",
    "amx_bf16": "AMX-BF16",
    "amx_int8": "AMX-INT8",
}


@dataclass(frozen=True)
class CpuFacts:
    vendor: str  # "GenuineIntel", "AuthenticAMD", "" where unknown
    model: str  # "Intel(R) Xeon(R) Platinum 8480+", or what platform.processor() says
    flags: frozenset[str] = field(default_factory=frozenset)  # /proc/cpuinfo's flags; empty where unknown

    @property
    def intel(self) -> bool:
        return self.vendor == "GenuineIntel" or (not self.vendor and "intel" in self.model.lower())

    @property
    def vnni(self) -> bool:
        return bool({"avx512_vnni", "avx_vnni"} & self.flags)

    @property
    def amx(self) -> bool:
        return "amx_tile" in self.flags

    @property
    def instruction_sets(self) -> list[str]:
        """The named instruction sets this CPU has, e.g. ["AVX2", "AVX-512", "AVX-512 VNNI", "AMX", …]."""
        return [name for flag, name in NAMED_FLAGS.items() if flag in self.flags]

    def describe(self) -> str:
        """ "AMD EPYC: AVX2 (no AVX-512 VNNI, no AMX)", as doctor and the benchmarks print it."""
        if not self.flags:
            return f"{self.model or 'unknown CPU'} (instruction sets unknown here)"
        has = ", ".join(self.instruction_sets) or "none of AVX2/AVX-512/VNNI/AMX"
        checked = (("AVX-512 VNNI", "avx512_vnni" in self.flags), ("AMX", self.amx))
        missing = [name for name, present in checked if not present]
        return f"{self.model}: {has}" + (f" (no {', no '.join(missing)})" if missing else "")


def parse_cpuinfo(text: str) -> CpuFacts:
    """The first processor's vendor, model name and flags from the text of /proc/cpuinfo."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key in ("vendor_id", "model name", "flags") and key not in values:
            values[key] = value.strip()
    flags = frozenset(values.get("flags", "").split())
    return CpuFacts(values.get("vendor_id", ""), values.get("model name", ""), flags)


def cpu_facts() -> CpuFacts:
    """This machine's CPU (EDGESEG_CPUINFO names another cpuinfo file to read)."""
    path = Path(os.environ.get(CPUINFO_ENV) or CPUINFO)
    try:
        facts = parse_cpuinfo(path.read_text(errors="replace"))
    except OSError:
        facts = CpuFacts("", "")
    if facts.vendor or facts.model:
        return facts
    processor = platform.processor()
    vendor = "GenuineIntel" if "GenuineIntel" in processor else "AuthenticAMD" if "AuthenticAMD" in processor else ""
    return CpuFacts(vendor, processor or platform.machine())
