//! Command implementations: each turns parsed arguments into library calls and output.

pub(crate) mod common;
pub(crate) mod countries;
pub(crate) mod coverage;
mod demo;
pub(crate) mod download;
mod info;
pub(crate) mod learn;
mod manifest;
pub(crate) mod maps;
mod mirror;
mod mosaic;
mod sample;
pub(crate) mod serve;
mod tile;
mod visualize;
pub(crate) mod webmap;
pub(crate) mod zarr;

use crate::cli::{Cli, Command};

pub(crate) mod progress;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Tile(a) => tile::run(&a),
        Command::Manifest(a) => manifest::run(&a),
        Command::Mirror(m) => mirror::run(m),
        Command::Info(a) => info::run(&a, g),
        Command::Download(a) => download::run(&a, g),
        Command::Sample(a) => sample::run(&a, g),
        Command::Mosaic(a) => mosaic::run(&a, g),
        Command::Visualize(a) => visualize::run(&a, g),
        Command::Demo(a) => demo::run(&a, g),
        Command::Zarr(c) => zarr::run(c, g),
        Command::Countries(a) => countries::run(&a),
        Command::Coverage(a) => coverage::run(&a, g),
        Command::Webmap(a) => webmap::run(&a, g),
        Command::Serve(a) => serve::run(&a, g),
        Command::Labels(a) => learn::run_labels(&a, g),
        Command::Train(a) => learn::run_train(&a, g),
        Command::Evaluate(a) => learn::run_evaluate(&a, g),
        Command::Predict(a) => maps::run_predict(&a, g),
        Command::Similar(a) => maps::run_similar(&a, g),
        Command::Cluster(a) => maps::run_cluster(&a, g),
        Command::Version => {
            println!(
                "tessera {} (geotessera-rs; reads and writes the data of geotessera 0.11: NPY tiles, Parquet manifests, Zarr v3 stores)",
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
    }
}
