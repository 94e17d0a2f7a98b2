//! `tessera tile LON,LAT`: the tile containing a point and its georeference.

use serde_json::json;
use tessera_core::bbox::parse_point;
use tessera_core::{TileGeoref, TileId};

use crate::cli::TileArgs;
use crate::exit::usage;

pub fn run(args: &TileArgs) -> anyhow::Result<()> {
    let (lon, lat) = parse_point(&args.point).map_err(|e| usage(e.to_string()))?;
    let tile = TileId::containing(lon, lat).map_err(|e| usage(e.to_string()))?;
    let g = TileGeoref::of_tile(tile);
    let [w, s, e, n] = tile.bounds();
    let t = g.transform.to_array();
    if args.json {
        let v = json!({
            "name": tile.name(),
            "bounds": [w, s, e, n],
            "epsg": g.crs.epsg(),
            "transform": t,
            "width": g.width,
            "height": g.height,
        });
        println!("{v}");
    } else {
        println!("tile       {}", tile.name());
        println!("bounds     W {w:.2}  S {s:.2}  E {e:.2}  N {n:.2}");
        println!("crs        {}", g.crs);
        println!(
            "transform  [{}, {}, {:.3}, {}, {}, {:.3}]  (x = a*col + b*row + c, y = d*col + e*row + f)",
            t[0], t[1], t[2], t[3], t[4], t[5]
        );
        println!(
            "size       {} x {} pixels (width x height), 10 m",
            g.width, g.height
        );
        if e > 180.0 || n > 90.0 {
            println!(
                "note       this cell lies beyond 180 degrees east or 90 degrees north: no tile is published there"
            );
        }
    }
    Ok(())
}
