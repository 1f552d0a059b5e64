#!/usr/bin/env python3
"""Writes the built-in task files from the entity tables in this folder.

    python3 make_tasks.py EMOJI_JSON OUT_DIR

EMOJI_JSON is package/emoji.json of the npm package emoji-datasource-google@16.0.0. Every entity must have a
Google image there (the check fails otherwise). Each task file is a TSV with a header
    split  input  output  image
where image is the emoji's 64x64 PNG file name inside the package (package/img/google/64/NAME). Splits are fixed: the
entities of a task are shuffled with a seed of their own and the first 30 are the validation split, the rest test.
"""
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TASKS = [  # task, table, input column, output column
    ("country-capital", "countries.tsv", 1, 2),
    ("country-currency", "countries.tsv", 1, 3),
    ("animal-latin", "animals.tsv", 1, 2),
    ("animal-young", "animals.tsv", 1, 3),
    ("food-color", "foods.tsv", 1, 2),
    ("food-flavor", "foods.tsv", 1, 3),
]
VAL = 30
SEED = 20241029


def rows(table):
    for line in (HERE / table).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            yield line.split("\t")


def flag_image(iso, emoji):
    code = "-".join("%x" % (0x1F1E6 + ord(c) - ord("a")) for c in iso.lower())
    for e in emoji:
        if e["unified"].lower() == code:
            return e
    return None


def main():
    emoji = json.load(open(sys.argv[1], encoding="utf-8"))
    by_name = {e["short_name"]: e for e in emoji}
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for task, table, icol, ocol in TASKS:
        items = []
        for r in rows(table):
            r = r + [""] * (4 - len(r))
            if not r[ocol].strip():
                continue
            e = flag_image(r[0], emoji) if table == "countries.tsv" else by_name.get(r[0])
            if e is None or not e.get("has_img_google"):
                sys.exit("%s: no Google emoji image for %r" % (task, r[0]))
            items.append((r[icol].strip(), r[ocol].strip(), e["image"]))
        inputs = [i for i, _, _ in items]
        if len(set(inputs)) != len(inputs):
            sys.exit("%s: duplicate inputs" % task)
        random.Random("%s:%d" % (task, SEED)).shuffle(items)
        with open(out / (task + ".tsv"), "w", encoding="utf-8") as f:
            f.write("split\tinput\toutput\timage\n")
            for k, (i, o, img) in enumerate(items):
                f.write("%s\t%s\t%s\t%s\n" % ("val" if k < VAL else "test", i, o, img))
        print("%-17s %3d items: %d val, %d test" % (task, len(items), min(VAL, len(items)), max(0, len(items) - VAL)))


if __name__ == "__main__":
    main()
