"""The "training to convergence" sections of reports/zero_shot_pos.md (regime a): how long each
frozen-encoder run trained, and what changed against the earlier fixed-epoch runs."""
from typing import Dict, List

from ..report_table import pct
from .experiment_runs import group_by_variant, seed_mean, variant_name


def peaked_at_last_epoch(run: Dict) -> bool:
    """Best English dev at the last epoch the run was allowed: it may still have been improving."""
    return run["history"]["best_epoch"] == run["settings"]["epochs"]


def convergence_section(stages: Dict[str, List[Dict]]) -> List[str]:
    """How long each frozen-regime run trained, and whether any peaked at its last allowed epoch."""
    lines = ["", "## Training to convergence (regime a)", "",
             "Each head stops when English dev has not improved for a set number of epochs (patience), "
             "within a maximum; the best epoch is kept. A run whose best epoch is its last allowed one may "
             "still have been improving.", "",
             "| stage | runs | max epochs | patience | epochs run | best epoch | best at the last allowed epoch |",
             "|---|---|---|---|---|---|---|"]
    flagged = []
    for stage, runs in stages.items():
        if not runs:
            continue
        ran = [len(r["history"]["dev_accuracy"]) for r in runs]
        best = [r["history"]["best_epoch"] for r in runs]
        at_end = [r for r in runs if peaked_at_last_epoch(r)]
        flagged += [f"{stage} {variant_name(r)} seed {r['settings']['seed']}" for r in at_end]
        maxes = sorted({r["settings"]["epochs"] for r in runs})
        patience = sorted({r["settings"].get("patience") for r in runs}, key=str)
        lines.append(f"| {stage} | {len(runs)} | {', '.join(map(str, maxes))} | "
                     f"{', '.join('none' if x is None else str(x) for x in patience)} | {min(ran)}–{max(ran)} | "
                     f"{min(best)}–{max(best)} | {len(at_end)} |")
    lines.append("")
    lines.append("No run had its best English dev at its last allowed epoch." if not flagged else
                 f"{len(flagged)} run(s) had their best English dev at the last allowed epoch and may not have "
                 f"converged: {'; '.join(flagged)}.")
    return lines


def changes_section(before: Dict[str, List[Dict]], now: Dict[str, List[Dict]], archive_name: str) -> List[str]:
    """Regime a before and after training to convergence (seed means)."""
    old_v, new_v = group_by_variant(before["main"]), group_by_variant(now["main"])
    fusion = lambda v: v.split(" ")[0]
    old_by, new_by = {fusion(v): v for v in old_v}, {fusion(v): v for v in new_v}
    lines = ["", "## What changed with training to convergence (regime a)", "",
             f"The earlier frozen-regime runs (archived in `reports/{archive_name}`) trained every head for a fixed "
             f"number of epochs with a different optimiser; these runs replace them. Seed means:", "",
             "| fusion | variant before | variant now | English dev before | now | low-resource macro before | now "
             "| gain over LastLayer before | now |", "|---|---|---|---|---|---|---|---|---|"]
    gains = {}
    for f in [f for f in new_by if f in old_by]:
        ov, nv = old_v[old_by[f]], new_v[new_by[f]]
        gain_old = seed_mean(ov, "macro") - seed_mean(old_v[old_by["LastLayer"]], "macro")
        gain_new = seed_mean(nv, "macro") - seed_mean(new_v[new_by["LastLayer"]], "macro")
        gains[f] = (gain_old, gain_new)
        cell = lambda g: "—" if f == "LastLayer" else f"{100 * g:+.2f}"
        lines.append(f"| {f} | {old_by[f]} | {new_by[f]} | {pct(seed_mean(ov, 'english_dev'))} | "
                     f"{pct(seed_mean(nv, 'english_dev'))} | {pct(seed_mean(ov, 'macro'))} | "
                     f"{pct(seed_mean(nv, 'macro'))} | {cell(gain_old)} | {cell(gain_new)} |")
    old_end = sum(peaked_at_last_epoch(r) for st in before.values() for r in st)
    n_old = sum(len(st) for st in before.values())
    lines += ["", f"- Before, {old_end} of {n_old} probe, sweep and main runs had their best English dev at their "
              "last allowed epoch."]
    fused = {f: g for f, g in gains.items() if f != "LastLayer"}
    if fused:
        lo, hi = min(g[1] for g in fused.values()), max(g[1] for g in fused.values())
        lo0, hi0 = min(g[0] for g in fused.values()), max(g[0] for g in fused.values())
        lines.append(f"- The fusions' gain over LastLayer (seed means) was {100 * lo0:+.1f} to {100 * hi0:+.1f} "
                     f"points and is now {100 * lo:+.1f} to {100 * hi:+.1f} (paired tests in the main comparison).")
    for f in ("DLFA", "AIF"):
        if f in old_by and f in new_by and old_by[f] != new_by[f]:
            lines.append(f"- k* of {f} moved: {old_by[f]} before, {new_by[f]} now.")
    return lines
