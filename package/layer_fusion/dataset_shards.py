"""The input shards of ``layer-fusion tag-dataset``: found by a glob, and checked in the driver
before Ray starts, so a bad shard is named with its line or record at once. Ray's own readers
name neither the file nor the line, and report only after Ray's start-up (about a minute)."""
from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import List, Optional

SUFFIXES = (".jsonl", ".parquet")


def input_shards(pattern: str, output_dir: Optional[Path] = None) -> List[Path]:
    """The shards a glob matches, sorted, but the JSONL files in ``output_dir`` (earlier outputs,
    which a recursive glob over the input folder also matches); raises ValueError naming an unreadable
    kind, or an ``output_dir`` that is the folder of inputs (each shard its own output)."""
    paths = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if output_dir is not None:
        out = Path(output_dir).resolve()
        inside = [p for p in paths if p.suffix == ".jsonl" and out in p.resolve().parents]
        # An earlier output has its input outside; a file with none would be its own output.
        inputs_outside = {p.stem for p in paths if p not in inside}
        own = [p for p in inside if p.stem not in inputs_outside]
        if own:
            raise ValueError(f"OUTPUT_DIR {output_dir} holds the input shard {own[0]}, which would be its own "
                             "output: give another folder")
        paths = [p for p in paths if p not in inside]
    if not paths:
        raise ValueError(f"{pattern}: no input shard matches")
    stems = [p.stem for p in paths]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash:
        raise ValueError(f"{pattern}: several shards named {clash[0]!r} would write the same output shard")
    kinds = {p.suffix for p in paths}
    if not kinds <= set(SUFFIXES) or len(kinds) > 1:
        raise ValueError(f"{pattern}: shards must all be .jsonl or all .parquet (found {sorted(kinds)})")
    return paths


def check_jsonl_shard(shard: Path) -> int:
    """Raise ValueError naming the shard and line of the first line that is not a JSON
    object with a string "text" (blank lines are skipped). Run in the driver before Ray
    starts: Ray's JSON reader names neither the file nor the line, and a worker's error
    reaches the driver buried in Ray's tracebacks. Returns the longest line's bytes."""
    longest = 0
    with open(shard, "rb") as lines:  # decoded line by line, so a bad byte is named by its line
        for n, raw in enumerate(lines, 1):
            longest = max(longest, len(raw))
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise ValueError(f"{shard}: line {n}: not UTF-8 (byte {raw[err.start]:#04x} at column "
                                 f"{err.start + 1})") from None
            if not line.strip():
                continue
            try:
                # Without its line break: a line cut short is then faulted at its end, not at
                # column 1 of a next line.
                record = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as err:
                what = err.msg.removesuffix(" at")  # "Expecting value", "Invalid control character at"
                raise ValueError(f"{shard}: line {n}: not JSON: {what} at column {err.colno}") from None
            if not isinstance(record, dict):
                raise ValueError(f"{shard}: line {n}: not a JSON object")
            if "text" not in record:
                raise ValueError(f'{shard}: line {n}: no "text" field')
            if not isinstance(record["text"], str):
                raise ValueError(f'{shard}: line {n}: "text" is {record["text"]!r}, not a string')
    return longest


def check_parquet_shard(shard: Path) -> None:
    """Raise ValueError naming the shard when it is not Parquet, has no "text" column, its
    "text" column is not text (a shard without records is not checked for that), or a record's
    text is null (naming the record). In the driver before Ray starts: Ray's error names the
    glob, not the shard, and comes after Ray's start-up (about a minute on a laptop).

    The footer answers for a shard whose row groups record no nulls in "text" (pyarrow and
    Spark write that count); a shard without those counts, or with nulls, has its "text"
    column read, batch by batch, up to its first null."""
    import pyarrow
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(shard)
    except (pyarrow.ArrowInvalid, OSError) as err:
        raise ValueError(f"{shard}: not a Parquet file ({' '.join(str(err).split())})") from None
    schema = parquet.schema_arrow
    if "text" not in schema.names:
        raise ValueError(f"{shard}: no \"text\" column (its columns: {', '.join(schema.names) or 'none'})")
    if parquet.metadata.num_rows == 0:
        return  # pandas writes the column of an empty frame as null or double: no record to tag
    kind = schema.field("text").type
    if pyarrow.types.is_dictionary(kind):
        kind = kind.value_type
    if pyarrow.types.is_null(kind):  # every text null: pandas' column of Nones
        raise ValueError(f'{shard}: record 1: "text" is missing (null)')
    if not (pyarrow.types.is_string(kind) or pyarrow.types.is_large_string(kind)
            or getattr(pyarrow.types, "is_string_view", lambda _: False)(kind)):
        raise ValueError(f'{shard}: the "text" column holds {kind}, not strings')
    if _no_nulls_recorded(parquet.metadata):
        return
    first = 0
    for batch in parquet.iter_batches(columns=["text"], batch_size=1 << 16):
        texts = batch.column(0)
        if texts.null_count:
            at = pc.index(texts.is_null(), True).as_py()
            raise ValueError(f'{shard}: record {first + at + 1}: "text" is missing (null)')
        first += len(texts)


def _no_nulls_recorded(metadata) -> bool:
    """Whether every row group's statistics say that the column has no nulls. Only for a
    top-level column stored as one Parquet column, as "text" is when it holds strings."""
    names = [metadata.schema.column(i).path for i in range(metadata.num_columns)]
    if names.count("text") != 1:
        return False
    column = names.index("text")
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(column).statistics
        if stats is None or not stats.has_null_count or stats.null_count:
            return False
    return True
