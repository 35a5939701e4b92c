"""The README's results come from committed files: `update_readme.py --check` agrees."""
import os
import subprocess
import sys

import pytest

from conftest import REPO

SCRIPT = REPO / "scripts" / "update_readme.py"


def check(readme):
    return subprocess.run([sys.executable, str(SCRIPT), "--check", "--readme", str(readme)],
                          capture_output=True, text=True)


def test_readme_results_match_their_sources():
    result = check(REPO / "README.md")
    assert result.returncode == 0, result.stderr


def test_check_fails_when_a_number_drifts(tmp_path):
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("<!-- results:start -->")
    head, tail = text[:start], text[start:]
    drifted = tmp_path / "README.md"
    drifted.write_text(head + tail.replace("Low-resource macro-average", "Low-resource macro average", 1),
                       encoding="utf-8")
    result = check(drifted)
    assert result.returncode == 1 and "out of date" in result.stderr


def test_the_example_block_is_checked_and_must_stand_apart_from_the_results(tmp_path):
    """A hand edit inside the example block fails --check; a README whose example block lies
    inside the results block, or whose example has no source, is an error, not a silent pass."""
    from runners import load_script

    text = (REPO / "README.md").read_text(encoding="utf-8")
    edited = tmp_path / "README.md"
    edited.write_text(text.replace(" of 28 words are tagged right", " of 29 words are tagged right", 1),
                      encoding="utf-8")
    result = check(edited)
    assert result.returncode == 1 and "out of date with its sources" in result.stderr
    example = text[text.index("<!-- example:start -->"):text.index("<!-- example:end -->") + len("<!-- example:end -->")]
    inside = text.replace(example, "").replace("<!-- results:start -->", "<!-- results:start -->\n" + example, 1)
    edited.write_text(inside, encoding="utf-8")
    result = check(edited)
    assert result.returncode == 2 and "overlaps the results block" in " ".join(result.stderr.split())
    script = load_script("update_readme")
    with pytest.raises(FileNotFoundError, match="none.json not found, which the README's example is written from"):
        script.render(text, REPO / "metrics" / "finetuned" / "zero_shot.json", REPO / "reports" / "make_all_timings.json",
                      REPO / "reports" / "summary.json", REPO / "reports" / "finetune_selection.json",
                      example=tmp_path / "none.json")


def test_readme_project_docs_match_project_yml(tmp_path):
    """The commands and workflows table is `spacy project document`'s, for this project.yml."""
    out = tmp_path / "doc.md"
    subprocess.run([sys.executable, "-m", "spacy", "project", "document", str(REPO), "--output", str(out)],
                   check=True, capture_output=True)
    text = out.read_text(encoding="utf-8")
    start, end = "<!-- WEASEL: AUTO-GENERATED DOCS START", "<!-- WEASEL: AUTO-GENERATED DOCS END"
    generated = text[text.index(start):text.index(end)]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert generated in readme, "README's project docs are stale: run `spacy project document . --output README.md`"


def test_a_readme_without_the_markers_or_missing_metrics_is_a_usage_error(tmp_path):
    plain = tmp_path / "README.md"
    plain.write_text("# A readme without generated sections\n", encoding="utf-8")
    result = check(plain)
    assert result.returncode == 2 and "needs one <!-- results:start -->" in " ".join(result.stderr.split())
    wide = {**os.environ, "COLUMNS": "400"}  # rich would wrap the path inside its error box
    result = subprocess.run([sys.executable, str(SCRIPT), "--check", "--metrics", str(tmp_path / "none.json")],
                            capture_output=True, text=True, env=wide)
    assert result.returncode == 2 and "none.json: not found" in " ".join(result.stderr.split())


def test_the_headline_figures_are_seed_means_with_seed_intervals():
    """With the config's seeds, every headline accuracy is their mean with the interval that
    resamples seeds (reports/<config>_seeds.json), and the shipped model's own follows, labelled."""
    import json

    from runners import load_script

    script = load_script("update_readme")
    metrics = json.loads((REPO / "metrics" / "finetuned" / "zero_shot.json").read_text(encoding="utf-8"))
    seeds = json.loads((REPO / "reports" / "finetuned_seeds.json").read_text(encoding="utf-8"))
    gold = seeds["gold_words"]
    # make every seed figure distinguishable from the shipped model's
    gold["macro_low_resource"].update(mean=0.5, ci95=[0.4, 0.6])
    for key, tb in gold["treebanks"].items():
        tb.update(mean=0.5 + 0.01 * list(gold["treebanks"]).index(key), ci95=[0.1, 0.9])
    for pair in gold["domain_pairs"].values():
        pair["gap"].update(mean=0.25, ci95=[0.125, 0.375])
    text = script.results_section(metrics, "finetuned", {}, {}, {}, seeds=seeds)
    assert "**Low-resource macro-average (28 treebanks): 50.0 [40.0, 60.0]**" in text
    assert (f"The shipped model alone (seed 0; sentences resampled): low-resource macro "
            f"{100 * metrics['macro_low_resource']['accuracy']:.1f}") in text
    ewt = gold["treebanks"]["en_ewt_test"]
    assert f"EWT test {100 * ewt['mean']:.1f} [10.0, 90.0]" in text
    best = max(gold["treebanks"], key=lambda k: gold["treebanks"][k]["mean"] if metrics["treebanks"][k]["group"]
               == "low_resource" else -1)
    assert f"Best and worst low-resource treebanks: {metrics['treebanks'][best]['language']}" in text
    assert text.count("| +25.0 [+12.5, +37.5] |") == len(gold["domain_pairs"])


def test_without_seeds_the_headline_is_the_shipped_models_with_sentence_intervals():
    import json

    from runners import load_script

    script = load_script("update_readme")
    metrics = json.loads((REPO / "metrics" / "finetuned" / "zero_shot.json").read_text(encoding="utf-8"))
    text = script.results_section(metrics, "finetuned", {}, {}, {})
    macro = metrics["macro_low_resource"]
    assert (f"**Low-resource macro-average (28 treebanks): {100 * macro['accuracy']:.1f} "
            f"[{100 * macro['ci95'][0]:.1f}, {100 * macro['ci95'][1]:.1f}]**") in text
    assert "(one training seed)" in text and "shipped model alone" not in text and "over the 1 seeds" not in text
    tagalog = metrics["domain_pairs"]["tagalog"]
    assert f"| {100 * tagalog['gap']:+.1f} [{100 * tagalog['gap_ci95'][0]:+.1f}," in text


def test_int8_figures_say_which_cpu_made_them_and_how_far_tags_move_on_avx2():
    """Hand-built inputs: the kernels named are those the int8 metrics record, and the shares
    and differences are the bench's native and avx2 rows for fp32 and the default scheme."""
    from layer_fusion.quantization import DEFAULT_SCHEME
    from layer_fusion.research.inference_summary import inference_lines

    metrics = {"macro_low_resource": {"accuracy": 0.75}}
    int8 = {DEFAULT_SCHEME: ("finetuned_int8_x", {"macro_low_resource": {"accuracy": 0.749, "ci95": [0.74, 0.76]},
                                                  "model": {"int8_cpu": "torch AVX512, VNNI"}})}

    def row(scheme, profile, accuracy, share):
        return {f"{scheme}/{profile}": {"scheme": scheme, "profile": profile, "macro_accuracy": accuracy,
                                        "changed_share": share}}

    bench = {"sets": 28, "words": 123456, "summary": {
        **row("fp32", "native", 0.75, 0.0), **row("fp32", "avx2", 0.75, 0.0001),
        **row("per_tensor", "native", 0.7, 0.0),  # no avx2 run: left out
        **row(DEFAULT_SCHEME, "native", 0.749, 0.0), **row(DEFAULT_SCHEME, "avx2", 0.7475, 0.0123)}}
    text = "\n".join(inference_lines(metrics, int8, {}, [], bench))
    assert "measured on torch AVX512, VNNI (`model.int8_cpu`" in text
    assert "per-tensor" not in text.split("held to AVX2")[1]
    assert ("gold words of 28 low-resource sets, 123,456 words; ONNX Runtime's kernels are not held, they follow "
            "the CPU): fp32: 0.01% of the words tagged differently, "
            "macro-average +0.00 points; " f"{DEFAULT_SCHEME.replace('_', '-')}: 1.23% of the words tagged "
            "differently, macro-average -0.15 points.") in text
    without = "\n".join(inference_lines(metrics, int8, {}, []))
    assert "held to AVX2" not in without and "measured on torch AVX512" in without
    assert "without VNNI" not in without
    no_vnni = ("finetuned_int8_x_no_vnni", {"macro_low_resource": {"accuracy": 0.7462, "ci95": [0.741, 0.751]},
                                            "model": {"int8_cpu": "torch AVX2, no VNNI"}})
    text = "\n".join(inference_lines(metrics, int8, {}, [], bench, no_vnni))
    assert ("On a CPU without VNNI, where the weights are rounded to 7 bits instead (torch AVX2, no VNNI; "
            "`metrics/finetuned_int8_x_no_vnni/zero_shot.md`), the default scheme's low-resource macro-average "
            "is 74.6 [74.1, 75.1], -0.38 points from fp32.") in text
    assert "Speed on a CPU without VNNI" not in text
    # Its speed, from the benchmark run on such a CPU, beside the VNNI run's where that is one.
    ratios = {f"bare_int8_{DEFAULT_SCHEME}": 1.58, "tag_int8": 1.31, "tag_fp32": 0.91}
    vnni_ratios = {f"bare_int8_{DEFAULT_SCHEME}": 2.13, "tag_int8": 1.74, "tag_fp32": 0.92}
    on_vnni = {"machine": "x (with VNNI)", "sentences": 10, "source": "s", "threads": 2, "runs": 5,
               "ratio_to_bare_fp32": vnni_ratios, "sentences_per_second": {k: 1.0 for k in vnni_ratios}}
    no_vnni_bench = {"machine": "y (without VNNI)", "runs": 5, "ratio_to_bare_fp32": ratios}
    text = "\n".join(inference_lines(metrics, int8, {}, [], bench, no_vnni, no_vnni_bench))
    assert ("Speed on a CPU without VNNI (`reports/bench/inference_no_vnni.md`, one such CPU, median of 5 runs): "
            f"the {DEFAULT_SCHEME.replace('_', '-')} scheme's bare encoder ran at 1.58× the bare fp32 encoder, and "
            "the `layer-fusion tag` path at 1.31× with int8 against 0.91× with `--fp32`.") in text
    with_vnni = "\n".join(inference_lines(metrics, int8, on_vnni, [], bench, no_vnni, no_vnni_bench))
    assert "median of 5 runs): int8 gained less than with VNNI: the" in with_vnni  # 1.31 / 0.91 < 1.74 / 0.92
    assert "with `--fp32` (with VNNI, above: 2.13×, 1.74× and 0.92×)." in with_vnni
    faster = {**no_vnni_bench, "ratio_to_bare_fp32": {**ratios, "tag_int8": 2.0}}  # 2.0 / 0.91 > 1.74 / 0.92
    assert "int8 gained more than with VNNI:" in "\n".join(inference_lines(metrics, int8, on_vnni, [], bench,
                                                                              no_vnni, faster))


def test_the_library_readme_lists_every_registered_name():
    """package/README.md's "Registered names" table promises the names found through entry
    points: every one that package/pyproject.toml registers for spaCy or thinc is a row."""
    import tomllib

    entry_points = tomllib.loads((REPO / "package" / "pyproject.toml").read_text(encoding="utf-8"))["project"]["entry-points"]
    registered = {name for group, names in entry_points.items() if group.startswith(("spacy_", "thinc_"))
                  for name in names}
    table = (REPO / "package" / "README.md").read_text(encoding="utf-8").split("## Registered names")[1].split("\n## ")[0]
    rows = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    assert len(registered) >= 12
    assert registered - rows == set(), "registered but not in package/README.md's table"


def test_the_de_vries_subset_is_named_by_the_sets_it_covers():
    """A macro-average over fewer sets than the subset lists says so, and is not set beside the
    published figure (over other languages)."""
    from runners import load_script

    script = load_script("update_readme")
    listed = script.load_targets(REPO / "configs" / "targets.cfg").subsets["de_vries_2022"]
    full = {"macro_subsets": {"de_vries_2022": {"treebanks": listed}}}
    assert script._de_vries_label(full) == ("The 14 languages of de Vries et al. (2022)", True)
    short = {"macro_subsets": {"de_vries_2022": {"treebanks": listed[:-1]}}}
    assert script._de_vries_label(short) == (f"13 of the 14 languages of de Vries et al. (2022), {listed[-1]} missing",
                                             False)


def test_the_headline_says_what_the_shipped_model_trains_on():
    from runners import load_script

    script = load_script("update_readme")
    multisource = script._extra_sources_caveat("finetuned")
    assert "7 non-target treebanks" in multisource and "UD_Hindi-PUD" in multisource and "Urdu" in multisource
    assert script._extra_sources_caveat("aif") == "the shipped model trains on English alone"
