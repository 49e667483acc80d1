"""The models' standing, one table for the README's front page, generated from metrics.json.

`python -m export standing --write` rewrites the README section between `BEGIN` and `END`; a test
fails while the README's section is not what the shipped metrics.json files say.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

BEGIN = "<!-- standing: generated from models/**/metrics.json by `python -m export standing` -->"
END = "<!-- /standing -->"
REPO = Path(__file__).resolve().parent.parent


#: File-name prefixes of the shared datasets and how the table names them.
DATA_NAMES = {"online_retail": "Online Retail", "tmall": "Tmall", "taobao": "Taobao"}


def _data(m: dict[str, Any]) -> str:
    path, returns = m["data"]["path"], m["data"]["return_types"]
    name = next((v for k, v in DATA_NAMES.items() if path.startswith(k)), path)
    kind = "return" if isinstance(returns, str) else "+".join(returns)
    return f"{name}, {kind} within {m['split']['horizon_days']:g} d"


def _ci(d: dict[str, float]) -> str:
    return f"{d['difference']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"


def row(name: str, m: dict[str, Any]) -> str:
    """One model's line: its mean test metrics against its best baselines, and the verdict."""
    means, comp, targets = m["test"]["mean"], m["comparison"], m["targets"]
    auc_b, brier_b = comp["best_auc_baseline"], comp["best_brier_baseline"]
    worst_ece = max(c["return_within_h"]["model"]["ece"] for c in m["test"]["by_cutoff"])
    abl = m.get("ablation")
    seq = _ci(abl["full_minus_covariates_only"]["roc_auc"]) if abl else "not measured"
    met = sum(t["met"] for t in targets.values())
    verdict = "met" if met == len(targets) else f"**missed** ({met} of {len(targets)} met)"
    return (
        f"| `{name}` | {_data(m)} | "
        f"{means['model']['roc_auc']:.4f} | {auc_b} {means[auc_b]['roc_auc']:.4f} | "
        f"{_ci(comp['roc_auc'])} | {means['model']['brier']:.4f} vs {means[brier_b]['brier']:.4f} | "
        f"{worst_ece:.3f} | {seq} | {verdict} |"
    )


def section(models_dir: Path) -> str:
    """The README section: a sentence and the table, between the markers."""
    paths = sorted(models_dir.glob("**/metrics.json"), key=lambda p: (len(p.parts), p))
    lines = [
        BEGIN,
        *textwrap.wrap(
            "Mean over each model's rolling test cutoffs (its card has the rest). Targets: "
            "ROC-AUC ≥ best baseline + 0.01 with the interval of the difference above 0, Brier ≤ "
            "the best, ECE ≤ 0.02 at every cutoff, and the sequence head adding to the same fit "
            "without it (full − covariates only above 0). Differences with 95% paired bootstrap "
            "intervals.",
            width=100,
        ),
        "",
        "| model | data | ROC-AUC | best baseline ROC-AUC | Δ ROC-AUC | Brier vs best | worst ECE "
        "| full − covariates only (ROC-AUC) | targets |",
        "|" + "---|" * 9,
    ]
    for p in paths:
        name = p.parent.relative_to(models_dir.parent).as_posix() + "/"
        lines.append(row(name, json.loads(p.read_text())))
    return "\n".join([*lines, END])


def rewrite(readme: str, models_dir: Path) -> str:
    """The README text with its standing section regenerated."""
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[:start] + section(models_dir) + readme[end:]


def main(write: bool) -> int:
    """Print the section, or write it into the README."""
    readme = REPO / "README.md"
    if write:
        readme.write_text(rewrite(readme.read_text(), REPO / "models"))
    else:
        print(section(REPO / "models"))
    return 0
