"""Input shards for tag-dataset's tests (JSONL, random sentences of a small vocabulary) and
the output shards it writes, read back."""
import json
import random
from pathlib import Path
from typing import Dict, List

WORDS = ["the", "big", "cat", "sat", "on", "a", "red", "mat", "dog", "ran", "to", "house", "."]


def random_texts(n: int, seed: int) -> List[str]:
    """``n`` texts of 0 to 12 words (an empty text among them, as real corpora hold)."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 12))) for _ in range(n)]


def write_shards(folder: Path, sizes: List[int]) -> str:
    """One JSONL shard ``part-NNN.jsonl`` per size, records ``{"text", "id"}``; returns their glob."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(sizes):
        with open(folder / f"part-{i:03d}.jsonl", "w", encoding="utf-8") as f:
            for j, text in enumerate(random_texts(n, i)):
                f.write(json.dumps({"text": text, "id": f"{i}-{j}"}) + "\n")
    return str(folder / "*.jsonl")


def read_outputs(folder: Path) -> Dict[str, List[str]]:
    """Output shard name -> its lines, for every ``*.jsonl`` in ``folder``."""
    return {p.name: p.read_text(encoding="utf-8").splitlines(keepends=True) for p in sorted(folder.glob("*.jsonl"))}
