//! One synthetic tile-year on one core, stage by stage: the pixel grid and landmask, the
//! class map, the embeddings, and writing the NPY pair. Run:
//! `cargo bench -p tessera-synth --bench synth_tile` (bench/synth.sh runs the whole mirror).

use std::time::Instant;

use tessera_core::TileId;
use tessera_formats::npy::write_npy_file;
use tessera_synth::World;
use tessera_synth::embed::Model;
use tessera_synth::tile::TileFrame;

fn main() {
    let tile: TileId = "grid_0.15_52.05".parse().unwrap();
    let world = World::new(42);
    let model = Model::new(7);
    let dir = std::env::temp_dir().join("tessera-synth-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let mut best = [f64::INFINITY; 4];
    for _ in 0..3 {
        let t0 = Instant::now();
        let frame = TileFrame::new(&world, tile).expect("land tile");
        let t1 = Instant::now();
        let classes = frame.classes(&world, 2024);
        let t2 = Instant::now();
        let emb = frame.embeddings(42, &model, 7, 2024, &classes);
        let t3 = Instant::now();
        let (h, w) = (frame.georef.height, frame.georef.width);
        write_npy_file(&dir.join("e.npy"), &[h, w, 128], &emb.q).unwrap();
        write_npy_file(&dir.join("s.npy"), &[h, w], &emb.scales).unwrap();
        let t4 = Instant::now();
        for (b, d) in best.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3]) {
            *b = b.min(d.as_secs_f64());
        }
    }
    let total: f64 = best.iter().sum();
    let mb = 1139.0 * 729.0 * 132.0 / 1e6;
    println!("one tile-year ({mb:.0} MB of int8 + scales) on one core:");
    println!("  grid + landmask  {:.3} s", best[0]);
    println!("  classes          {:.3} s", best[1]);
    println!("  embeddings       {:.3} s", best[2]);
    println!("  write NPY        {:.3} s", best[3]);
    println!(
        "  total            {:.3} s  ({:.0} MB/s); target < 2 s",
        total,
        mb / total
    );
    std::fs::remove_dir_all(&dir).ok();
}
