#!/usr/bin/env python3
"""Writes crates/tessera-world/data/iso_3166_1.csv (numeric,alpha2,alpha3,name) from
Debian's iso-codes package (LGPL-2.1+, https://salsa.debian.org/iso-codes-team/iso-codes).

    apt-get install iso-codes
    python3 scripts/iso3166_csv.py [/usr/share/iso-codes/json/iso_3166-1.json]

`name` is the entry's common_name where it has one (e.g. "South Korea"), else its name.
"""

import csv
import json
import pathlib
import sys

src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/iso-codes/json/iso_3166-1.json")
out = pathlib.Path(__file__).resolve().parent.parent / "crates/tessera-world/data/iso_3166_1.csv"
rows = json.loads(src.read_text(encoding="utf-8"))["3166-1"]
rows.sort(key=lambda r: r["numeric"])
with out.open("w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["numeric", "alpha2", "alpha3", "name"])
    for r in rows:
        w.writerow([r["numeric"], r["alpha_2"], r["alpha_3"], r.get("common_name", r["name"])])
print(f"{out}: {len(rows)} countries")
