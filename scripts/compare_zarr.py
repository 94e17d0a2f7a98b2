#!/usr/bin/env python3
"""Compare two TESSERA Zarr stores with zarr-python: metadata documents and every value of
every zone's embeddings and scales (NaN == NaN, bit-exact otherwise).

Used to check a store built by `tessera zarr build` against one built by geotessera's
`geotessera-registry zarr-init` + `zarr-fill` from the same mirror:

    python scripts/compare_zarr.py ours.zarr reference.zarr

Differences that are expected and reported but not counted: `geoemb:build_version`, our
`geotessera-rs:chunk_crc32c` array attribute, and geotessera's `stretch_*` arrays (preview
statistics we do not write).
"""

import json
import sys

import numpy as np
import zarr


def docs(path):
    root = json.load(open(f"{path}/zarr.json"))
    meta = root.get("consolidated_metadata", {}).get("metadata", {})
    return root, meta


def strip(d):
    d = json.loads(json.dumps(d))
    d.get("attributes", {}).pop("geotessera-rs:chunk_crc32c", None)
    d.get("attributes", {}).pop("geoemb:build_version", None)
    d.pop("consolidated_metadata", None)
    return d


def main(a, b):
    ra, ma = docs(a)
    rb, mb = docs(b)
    problems = 0
    if strip(ra) != strip(rb):
        print("root attributes differ")
        problems += 1
    keys_a = {k for k in ma if "stretch_" not in k}
    keys_b = {k for k in mb if "stretch_" not in k}
    if keys_a != keys_b:
        print("nodes differ:", sorted(keys_a ^ keys_b))
        problems += 1
    for k in sorted(keys_a & keys_b):
        if strip(ma[k]) != strip(mb[k]):
            print(f"metadata of {k} differs:\n  {strip(ma[k])}\n  {strip(mb[k])}")
            problems += 1
    print(f"metadata: {len(keys_a & keys_b)} nodes compared")
    za = zarr.open_group(a, mode="r")
    zb = zarr.open_group(b, mode="r")
    zones = sorted(k for k in keys_a if "/" not in k)
    for z in zones:
        for name in ["x", "y", "time", "band"]:
            if not np.array_equal(za[z][name][:], zb[z][name][:]):
                print(f"{z}/{name} values differ")
                problems += 1
        ea, eb = za[z]["embeddings"], zb[z]["embeddings"]
        sa, sb = za[z]["scales"], zb[z]["scales"]
        T, B, H, W = ea.shape
        for t in range(T):
            diff_e = diff_s = 0
            finite = 0
            for r in range(0, H, 1024):
                xa = ea[t, :, r : r + 1024, :]
                xb = eb[t, :, r : r + 1024, :]
                diff_e += int((xa != xb).sum())
                ya = sa[t, r : r + 1024, :]
                yb = sb[t, r : r + 1024, :]
                same = (ya.view(np.uint32) == yb.view(np.uint32)) | (np.isnan(ya) & np.isnan(yb))
                diff_s += int((~same).sum())
                finite += int(np.isfinite(ya).sum())
            print(f"{z} t={t}: {finite} finite scales; {diff_e} int8 values and {diff_s} scales differ")
            problems += int(diff_e > 0) + int(diff_s > 0)
    print("IDENTICAL" if problems == 0 else f"{problems} PROBLEMS")
    return 0 if problems == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
