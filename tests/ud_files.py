"""Small UD files for tests: CoNLL-U rows and files, and a targets config over toy treebanks."""


def row(tid, form, upos):
    return "\t".join([tid, form, "_", upos, "_", "_", "_", "_", "_", "_"])


def write_conllu(path, sentences):
    """sentences: list of (sent_id, [(form, upos), ...])"""
    lines = []
    for sent_id, words in sentences:
        lines.append(f"# sent_id = {sent_id}")
        lines += [row(str(i), form, upos) for i, (form, upos) in enumerate(words, 1)]
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


TARGETS_CFG = """
[treebanks]

[treebanks.en_dev]
treebank = "UD_English-Toy"
language = "English"
iso = "en"
group = "english"
split = "dev"
file = "en_toy-ud-dev.conllu"

[treebanks.xx_one]
treebank = "UD_Toy-One"
language = "Toy"
iso = "xx"
group = "low_resource"
file = "one.conllu"

[treebanks.xx_two]
treebank = "UD_Toy-Two"
language = "Toy"
iso = "xx"
group = "low_resource"
file = "two.conllu"

[treebanks.xx_gone]
treebank = "UD_Toy-Gone"
language = "Toy"
iso = "xx"
group = "low_resource"
file = "gone.conllu"

[domain_pairs]

[domain_pairs.toy]
a = "xx_one"
b = "xx_two"
label = "Toy: one vs two"

[domain_pairs.half_missing]
a = "xx_one"
b = "xx_gone"

[genre_breakdown]
treebanks = ["en_dev"]
"""
