//! Command implementations: each turns parsed arguments into library calls and output.

mod manifest;
mod mirror;
mod tile;

use crate::cli::{Cli, Command};

pub(crate) mod progress;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Tile(a) => tile::run(&a),
        Command::Manifest(a) => manifest::run(&a),
        Command::Mirror(m) => mirror::run(m),
    }
}
