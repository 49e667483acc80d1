"""Benchmark results: summary numbers, bench/results/latest.json and latest.md."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from bench.harness import PARTITIONS

SYSTEMS = (
    ("raw", "(a) raw aiokafka + JSON decode"),
    ("bare", "(b) bare Faust agent + 1 table update"),
    ("worker", "(c) full worker (CPU)"),
    ("quix", "(d) quixstreams 3.28 app + 1 RocksDB state update (changelog)"),
)
GIB = 2**30


def med(runs: list[dict[str, float]], key: str = "eps") -> float:
    """Median of `key` over runs."""
    return statistics.median(r[key] for r in runs)


def partial_summary(res: dict[str, Any]) -> dict[str, float]:
    """Medians of the systems that ran (a subset of raw, bare, worker)."""
    summary = {k: med(res[k]) for k, _ in SYSTEMS if res[k]}
    if res["worker"]:
        summary["batch_size_mean"] = med(res["worker"], "batch_size_mean")
    return summary


def summary(res: dict[str, Any]) -> dict[str, Any]:
    """Medians of the three systems, their ratios and the worker's memory per user."""
    workers = res["worker"]
    s: dict[str, Any] = {
        "raw_eps": med(res["raw"]),
        "bare_eps": med(res["bare"]),
        "worker_eps": med(workers),
        "quix_eps": med(res["quix"]),
        "batch_size_mean": med(workers, "batch_size_mean"),
        "worker_caught_up_s": med(workers, "caught_up_seconds"),
        "rss_mib": med(workers, "rss_bytes") / 2**20,
    }
    s["c_over_a"] = s["worker_eps"] / s["raw_eps"]
    s["c_over_b"] = s["worker_eps"] / s["bare_eps"]
    s["c_over_d"] = s["worker_eps"] / s["quix_eps"]
    s["d_over_a"] = s["quix_eps"] / s["raw_eps"]
    users_tracked = med(workers, "users_tracked") or res["users"]
    s["rss_per_million_users_gib"] = med(workers, "rss_bytes") / users_tracked * 1e6 / GIB
    return s


def add_latency(res: dict[str, Any], lat: dict[str, Any]) -> None:
    """Store the latency run and the marginal memory per user it measured."""
    res["latency"] = lat
    grown = lat["rss_after_bytes"] - lat["rss_before_bytes"]
    if lat["users_tracked"]:
        res["summary"]["marginal_rss_per_million_users_gib"] = (
            grown / lat["users_tracked"] * 1e6 / GIB
        )


def write_json(res: dict[str, Any], out: Path, name: str = "latest.json") -> Path:
    """`res` as indented JSON under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(json.dumps(res, indent=2, default=str) + "\n")
    return path


def write_results(res: dict[str, Any], out: Path) -> str:
    """latest.json and latest.md; returns the markdown."""
    write_json(res, out)
    md = markdown(res)
    (out / "latest.md").write_text(md)
    return md


def markdown(res: dict[str, Any]) -> str:
    """The results as a markdown page."""
    lines = _header(res) + _systems_table(res) + _metrics_table(res) + _model_table(res)
    return "\n".join(lines)


def _header(res: dict[str, Any]) -> list[str]:
    m = res["machine"]
    return [
        f"# decay-stream benchmark ({m['date_utc']})",
        "",
        f"Machine: {m['nproc']} cores, {m['cpu']}, {m['ram_gib']} GiB RAM, kernel {m['kernel']}; "
        f"Python {m['python']}, Kafka {m['kafka_broker']} (local KRaft broker, same machine), "
        f"aiokafka {m['aiokafka']}, faust-streaming {m['faust_streaming']}, "
        f"onnxruntime {m['onnxruntime']}. GPU: {m['gpu']}. {m['note']}.",
        "",
        f"N = {res['events']} events ({res['users']} users), {PARTITIONS} partitions, "
        f"{res['runs']} runs each, medians.",
        "",
    ]


def _systems_table(res: dict[str, Any]) -> list[str]:
    s = res["summary"]
    lines = ["| system | events/s (median) | runs (events/s) |", "|---|---:|---|"]
    for key, label in SYSTEMS:
        runs = ", ".join(f"{r['eps']:.0f}" for r in res[key])
        lines.append(f"| {label} | {s[key + '_eps']:.0f} | {runs} |")
    return lines


def _target(value: float, target: str) -> str:
    return f"≥ {target} {'met' if value >= float(target) else 'NOT met'}"


def _metrics_table(res: dict[str, Any]) -> list[str]:
    s = res["summary"]
    lines = [
        "",
        "| metric | value | target |",
        "|---|---:|---|",
        f"| c/a | {s['c_over_a']:.3f} | {_target(s['c_over_a'], '0.25')} |",
        f"| c/b | {s['c_over_b']:.3f} | {_target(s['c_over_b'], '1.0')} |",
        f"| c/d | {s['c_over_d']:.3f} | {_target(s['c_over_d'], '1.0')} |",
        f"| d/a | {s['d_over_a']:.3f} | |",
        f"| mean model batch size (c) | {s['batch_size_mean']:.1f} | |",
        f"| worker caught-up time, median (s) | {s['worker_caught_up_s']:.1f} | |",
    ]
    lines += _latency_rows(res.get("latency"), "½ of (c)")
    lines += _latency_rows(res.get("latency_fixed"), "fixed")
    lines += _scaleout_rows(res.get("scaleout"))
    marginal = s.get("marginal_rss_per_million_users_gib", float("nan"))
    return [
        *lines,
        f"| worker RSS after run (MiB) | {s['rss_mib']:.0f} | |",
        f"| RSS per 1M users, total (GiB) | {s['rss_per_million_users_gib']:.2f} | |",
        f"| RSS per 1M users, marginal (GiB) | {marginal:.2f} | |",
        *_state_rows(res),
    ]


def _latency_rows(lat: dict[str, Any] | None, label: str) -> list[str]:
    if not lat:
        return []
    at = f"at {lat['rate_target_eps']:.0f} ev/s"
    p99_target = "≤ 0.100 " + ("met" if lat["latency_p99_s"] <= 0.1 else "NOT met")
    return [
        f"| latency run ({label}): target / achieved rate (ev/s) | {lat['rate_target_eps']:.0f}"
        f" / {lat['rate_achieved_eps']:.0f} | |",
        f"| event→state latency {at}, p50 (s) | {lat['latency_p50_s']:.3f} | |",
        f"| event→state latency {at}, p99 (s) | {lat['latency_p99_s']:.3f} | "
        f"{p99_target if label != 'fixed' else ''} |",
        f"| event→state latency {at}, p99 after the first {lat['warm_up_seconds']:.0f} s (s) | "
        f"{lat['latency_p99_after_warm_up_s']:.3f} | |",
        f"| matched / unmatched events {at} | {lat['matched']} / {lat['unmatched']} | |",
    ]


def _scaleout_rows(scaleout: dict[str, list[dict[str, float]]] | None) -> list[str]:
    if not scaleout or not scaleout["1"] or not scaleout["2"]:
        return []
    one, two = med(scaleout["1"]), med(scaleout["2"])
    runs = ", ".join(f"{r['eps']:.0f}" for r in scaleout["2"])
    split = ", ".join(
        f"{r['per_worker_events_min']:.0f}/{r['per_worker_events_max']:.0f}" for r in scaleout["2"]
    )
    return [
        f"| scale-out: 1 worker, started before the load (ev/s) | {one:.0f} | |",
        f"| scale-out: 2 workers in one group (ev/s; runs {runs}) | {two:.0f} | |",
        f"| scale-out: 2 workers / 1 | {two / one:.2f} | events per worker {split} |",
    ]


def _state_rows(res: dict[str, Any]) -> list[str]:
    rows = []
    lat = res.get("latency")
    if lat and "state_bytes_mean" in lat:
        rows.append(
            f"| state value in the changelog, mean / max seen (bytes) | "
            f"{lat['state_bytes_mean']:.0f} / {lat['state_bytes_max']} | |"
        )
    bound = res.get("state_bound")
    if bound:
        rows.append(
            f"| state value bound: ring of {bound['sequence_length']}, longest ids (bytes) | "
            f"{bound['worst_case_state_bytes']} | model part {bound['model_only_state_bytes']} |"
        )
    return rows


def _model_table(res: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "Model step graph, CPU, 1 intra-op thread (ModelRuntime.step, median):",
        "",
        "| batch | provider | ms/step | events/s |",
        "|---:|---|---:|---:|",
    ]
    for r in res["model_micro"]:
        lines.append(
            f"| {r['batch']} | {r['provider']} | {r['step_ms_median']:.3f} | "
            f"{r['events_per_s']:.0f} |"
        )
    return [*lines, "", "CUDA provider with IOBinding: not measured (no GPU in this session).", ""]


# --------------------------------------------------------------------------- gpu-check
