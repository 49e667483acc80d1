"""The GPU check's results: bench/results/gpu.json and gpu.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import med, write_json


def write_gpu_results(res: dict[str, Any], out: Path) -> None:
    """gpu.json and gpu.md (called after every part, so a run cut short keeps what it did)."""
    write_json(res, out, "gpu.json")
    (out / "gpu.md").write_text(gpu_markdown(res))


def gpu_markdown(res: dict[str, Any]) -> str:
    """The gpu-check results as a markdown page."""
    m, parts = res["machine"], res["parts"]
    lines = [
        f"# decay-stream GPU check ({m['date_utc']}{', --quick' if res['quick'] else ''})",
        "",
        f"Machine: {m['nproc']} cores, {m['cpu']}, {m['ram_gib']} GiB RAM; GPU: {m['gpu']}; "
        f"onnxruntime {m['onnxruntime']}, Python {m['python']}. {m['note']}.",
        "",
    ]
    lines += [f"- {k}: {res[k]}" for k in ("install", "preload") if k in res] or [
        "- CUDA part not run: no GPU."
    ]
    for name, part in parts.items():
        lines += ["", f"## {name} ({part.get('seconds', '?')} s)", ""]
        lines += _gpu_part(name, part, _cpu_rates(parts))
    if "failed" in res:
        lines += ["", f"Failed parts: {', '.join(res['failed']) or 'none'}."]
    return "\n".join(lines) + "\n"


def _cpu_rates(parts: dict[str, Any]) -> dict[int, float]:
    """CPU step events/s by batch size, for the × CPU column of the CUDA rows."""
    rows = parts.get("cpu_throughput", {}).get("rows", [])
    return {r["batch"]: r["events_per_s"] for r in rows if "events_per_s" in r}


def _gpu_part(name: str, part: dict[str, Any], cpu_rates: dict[int, float]) -> list[str]:
    if "error" in part:
        return [f"**error**: `{part['error']}`"]
    if name.endswith("parity"):
        return _parity_table(part["rows"])
    if name.endswith("throughput"):
        return _throughput_table(part["rows"], {} if name.startswith("cpu") else cpu_rates)
    if name == "worker":
        return _worker_table(part)
    return [f"- {k}: {v}" for k, v in part.items() if k != "seconds"]


def _parity_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| comparison | users × steps | max abs diff | < 1e-4 |", "|---|---:|---:|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['compare']} | | error: `{r['error']}` | |")
            continue
        lines.append(
            f"| {r['compare']} | {r['users']} × {r['steps']} | {r['max_abs_diff']:.2e} | "
            f"{'yes' if r['pass'] else '**no**'} |"
        )
    return lines


def _throughput_table(rows: list[dict[str, Any]], cpu_rates: dict[int, float]) -> list[str]:
    """Per batch and mode; with `cpu_rates`, the ratio to the CPU run at the same batch."""
    ratio_col = " × CPU |" if cpu_rates else ""
    lines = [
        f"| batch | mode | ms/step (median) | events/s |{ratio_col}",
        f"|---:|---|---:|---:|{'---:|' if cpu_rates else ''}",
    ]
    for r in rows:
        cells = f"| {r['batch']} | {r['mode']} | "
        if "error" in r:
            lines.append(cells + f"error: `{r['error']}` | |{' |' if cpu_rates else ''}")
            continue
        cells += f"{r['step_ms_median']:.3f} | {r['events_per_s']:.0f} |"
        if cpu_rates:
            cpu = cpu_rates.get(r["batch"])
            cells += f" {r['events_per_s'] / cpu:.2f} |" if cpu else " |"
        lines.append(cells)
    return lines


def _worker_table(part: dict[str, Any]) -> list[str]:
    runs = part["runs"]
    lines = [
        f"N = {part['events']} events ({part['users']} users), runs alternate, medians; "
        f"CUDA served every CUDA run: {part['cuda_served']}.",
        "",
        "| worker (c) | events/s (median) | runs | mean batch | model step ms (mean) |",
        "|---|---:|---|---:|---:|",
    ]
    for name in ("cuda", "cpu"):
        if not runs[name]:
            continue
        eps = ", ".join(f"{r['eps']:.0f}" for r in runs[name])
        lines.append(
            f"| {name} | {med(runs[name]):.0f} | {eps} | {med(runs[name], 'batch_size_mean'):.1f}"
            f" | {med(runs[name], 'model_step_ms_mean'):.3f} |"
        )
    if runs["cuda"] and runs["cpu"]:
        lines += ["", f"cuda/cpu = {med(runs['cuda']) / med(runs['cpu']):.2f}"]
    return lines
