"""Writes crates/tessera-pictures/assets/land/ne_110m_countries.bin from the Natural Earth
1:110m admin-0 countries shapefile (public domain): the polygons of the coverage map's land
layer, compactly.

Format (little-endian): b"NELAND1\\0", u32 shapes; per shape: u32 rings; per ring: u32 points,
then points x (i32 lon * 1e5, i32 lat * 1e5). Rings of one shape are filled together
(even-odd), so holes stay holes.

Usage: python scripts/gen-land.py SHP OUT
"""

import struct
import sys


def main(shp: str, out: str) -> None:
    data = open(shp, "rb").read()
    pos = 100
    shapes = []
    while pos < len(data):
        _num, length = struct.unpack(">ii", data[pos : pos + 8])
        rec = data[pos + 8 : pos + 8 + length * 2]
        pos += 8 + length * 2
        (stype,) = struct.unpack("<i", rec[:4])
        if stype == 0:
            continue
        if stype not in (5, 15, 25):
            raise SystemExit(f"unexpected shape type {stype}")
        nparts, npoints = struct.unpack("<ii", rec[36:44])
        parts = list(struct.unpack(f"<{nparts}i", rec[44 : 44 + 4 * nparts]))
        pts_off = 44 + 4 * nparts
        pts = struct.unpack(f"<{2 * npoints}d", rec[pts_off : pts_off + 16 * npoints])
        rings = []
        for i, start in enumerate(parts):
            end = parts[i + 1] if i + 1 < nparts else npoints
            rings.append([(pts[2 * k], pts[2 * k + 1]) for k in range(start, end)])
        shapes.append(rings)
    buf = bytearray(b"NELAND1\0")
    buf += struct.pack("<I", len(shapes))
    for rings in shapes:
        buf += struct.pack("<I", len(rings))
        for ring in rings:
            buf += struct.pack("<I", len(ring))
            for x, y in ring:
                buf += struct.pack("<ii", round(x * 1e5), round(y * 1e5))
    open(out, "wb").write(bytes(buf))
    print(f"{len(shapes)} shapes, {len(buf)} bytes -> {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
