"""The README's example (scripts/update_readme.py): the sentences we wrote, the fp32 tags of
`layer-fusion tag --format text --fp32` on them, the words tagged wrong against our annotation,
and the words that int8 tags differently on each CPU it ran on, from
``reports/example_tags.json`` (``scripts/tag_example.py``)."""
from typing import List

from ..output_formats import format_text
from ..quantization import INT8_BY_DEFAULT
from ..tagging import TaggedLine

SOURCE = "reports/example_tags.json"


def _word(s: dict, i: int, tag: str) -> str:
    gloss = f' "{s["gloss"][i]}"' if s["gloss"][i] else ""
    return f"`{s['words'][i]}`{gloss} {tag}"


def example_lines(example: dict) -> List[str]:
    """The example as README lines: a shell session, then what it shows."""
    sentences = example["sentences"]
    lines = ["```text", "$ cat sentences.txt", *(s["text"] for s in sentences),
             f"$ layer-fusion tag {example['pipeline']} sentences.txt --format text --fp32"]
    lines += [format_text(TaggedLine(s["text"], s["words"], s["fp32"]), 0).rstrip("\n") for s in sentences]
    lines.append("```")
    words = sum(len(s["words"]) for s in sentences)
    wrong = [_word(s, i, f"{s['fp32'][i]} (ours: {s['upos'][i]})")
             for s in sentences for i in range(len(s["words"])) if s["fp32"][i] != s["upos"][i]]
    per_cpu = []
    for cpu, runs in example["int8_runs"].items():
        if [len(tags) for tags in runs] != [len(s["words"]) for s in sentences]:
            raise ValueError(f"{SOURCE}: the int8 run of {cpu} has not a tag per word (scripts/tag_example.py)")
        moved = [_word(s, i, f"{tags[i]} (fp32: {s['fp32'][i]})")
                 for s, tags in zip(sentences, runs) for i in range(len(s["words"])) if tags[i] != s["fp32"][i]]
        right = sum(t == g for s, tags in zip(sentences, runs) for t, g in zip(tags, s["upos"]))
        per_cpu.append(f"on {cpu}, " + (", ".join(moved) if moved else "no word changed")
                       + f", {right} of {words} right")
    text = (f"Against our own annotation of these sentences (`{example['sentences_file']}`, UD's "
            f"guidelines), {words - len(wrong)} of {words} words are tagged right"
            + (f"; the others: {', '.join(wrong)}." if wrong else "."))
    if per_cpu:
        text += ((" Without `--fp32` (int8, the default on the CPU)" if INT8_BY_DEFAULT else " With `--int8`")
                 + " a tag can change, and which can depend on the CPU: int8 rounds activations, so the "
                 "last-bit differences of two CPUs' kernels can move a value across a rounding step "
                 f"(\"Inference\" under Results). As measured (`{SOURCE}`, each run named by the kernels it ran "
                 "on): " + "; ".join(per_cpu) + ".")
    return lines + ["", text + " Per-language accuracies are under Results."]
