#!/usr/bin/env python3
"""Golden vectors for tessera-core projections, computed with pyproj (PROJ).

Writes, next to this script:
  projection_vectors.csv  kind,epsg,lon,lat,x,y   (kind: fwd = forward from lon/lat,
                          inv = inverse from x/y; values printed with repr, exact f64)
  tile_georef_vectors.csv name,epsg,origin_x,origin_y,width,height  (geotessera's
                          project_tile rule: project the 4 cell corners, min/max, round)

Usage: python3 gen_projection_vectors.py   (needs pyproj; deterministic, seed 42)
"""

import csv
import math
import os
import random

import pyproj
from pyproj import Transformer

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(42)
_cache = {}


def tr(epsg, inverse=False):
    key = (epsg, inverse)
    if key not in _cache:
        a, b = ("EPSG:4326", f"EPSG:{epsg}")
        if inverse:
            a, b = b, a
        _cache[key] = Transformer.from_crs(a, b, always_xy=True)
    return _cache[key]


rows = []
for zone in range(1, 61):
    cm = zone * 6 - 183
    for kind_epsg, lat_range in (
        (32600 + zone, (0.0, 84.0)),  # north zone, northern points
        (32700 + zone, (-80.0, 0.0)),  # south zone
        (32600 + zone, (-80.0, 0.0)),  # north zone, negative northings (Zarr stores)
    ):
        for _ in range(14):
            lon = cm + rng.uniform(-3.5, 3.5)
            lon = ((lon + 180) % 360) - 180
            lat = rng.uniform(*lat_range)
            x, y = tr(kind_epsg).transform(lon, lat)
            rows.append(("fwd", kind_epsg, lon, lat, x, y))
        # Inverse vectors from projected coordinates inside the zone's band.
        for _ in range(6):
            lat = rng.uniform(*lat_range)
            lon = cm + rng.uniform(-3.5, 3.5)
            x0, y0 = tr(kind_epsg).transform(lon, lat)
            x = x0 + rng.uniform(-500.0, 500.0)
            y = y0 + rng.uniform(-500.0, 500.0)
            lon2, lat2 = tr(kind_epsg, inverse=True).transform(x, y)
            rows.append(("inv", kind_epsg, lon2, lat2, x, y))
# Edge cases: central meridian, equator, exact zone edges, high latitudes.
for zone in (1, 30, 31, 60):
    cm = zone * 6 - 183
    for lon, lat in (
        (cm, 0.0),
        (cm - 3.0, 0.0),
        (cm + 3.0, 1e-9),
        (cm + 3.5, 84.0),
        (cm - 3.5, 89.5),
        (cm, 89.999),
    ):
        lon = ((lon + 180) % 360) - 180
        for epsg in (32600 + zone, 32700 + zone):
            x, y = tr(epsg).transform(lon, lat if epsg < 32700 else -lat)
            rows.append(("fwd", epsg, lon, lat if epsg < 32700 else -lat, x, y))
# Web Mercator and WGS84.
for _ in range(200):
    lon, lat = rng.uniform(-180, 180), rng.uniform(-85, 85)
    x, y = tr(3857).transform(lon, lat)
    rows.append(("fwd", 3857, lon, lat, x, y))
    x, y = rng.uniform(-2.0e7, 2.0e7), rng.uniform(-1.9e7, 1.9e7)
    lon2, lat2 = tr(3857, inverse=True).transform(x, y)
    rows.append(("inv", 3857, lon2, lat2, x, y))

with open(os.path.join(HERE, "projection_vectors.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["kind", "epsg", "lon", "lat", "x", "y"])
    for r in rows:
        w.writerow([r[0], r[1]] + [repr(float(v)) for v in r[2:]])


def project_tile(lon, lat):
    zone = max(1, min(60, int(math.floor((lon + 180) / 6)) + 1))
    epsg = (32700 if lat < 0 else 32600) + zone
    t = tr(epsg)
    west, east, south, north = lon - 0.05, lon + 0.05, lat - 0.05, lat + 0.05
    ul_e, ul_n = t.transform(west, north)
    ur_e, ur_n = t.transform(east, north)
    ll_e, ll_n = t.transform(west, south)
    lr_e, lr_n = t.transform(east, south)
    ox, oy = min(ul_e, ll_e), max(ul_n, ur_n)
    return epsg, ox, oy, round((max(ur_e, lr_e) - ox) / 10), round((oy - min(ll_n, lr_n)) / 10)


tiles = set()
while len(tiles) < 600:
    # Random cells as centre keys round(centre*100) = 10*cell + 5.
    tiles.add((rng.randrange(-1800, 1800) * 10 + 5, rng.randrange(-800, 840) * 10 + 5))
# Named cases: the spec vectors, zone seams, the dateline, poles, Norway/Svalbard.
for lon_i, lat_i in (
    (15, 5205),
    (-15, 5125),
    (295, 5145),
    (5, 5),
    (-17995, -5),
    (3685, -125),
    (1005, 7805),
    (-5, 5),
    (5, -5),
    (17995, 8395),
    (-17995, -7995),
    (295, 6005),
    (305, 6005),
):
    tiles.add((lon_i, lat_i))
with open(os.path.join(HERE, "tile_georef_vectors.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["name", "epsg", "origin_x", "origin_y", "width", "height"])
    for lon_i, lat_i in sorted(tiles):
        lon, lat = lon_i / 100, lat_i / 100
        name = f"grid_{lon:.2f}_{lat:.2f}"
        epsg, ox, oy, wd, ht = project_tile(lon, lat)
        w.writerow([name, epsg, repr(ox), repr(oy), wd, ht])
print(f"{len(rows)} projection vectors, {len(tiles)} tiles; PROJ {pyproj.proj_version_str}")
