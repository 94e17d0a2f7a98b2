//! `tessera download --source zarr`: one GeoTIFF per UTM zone streamed from a Zarr store.

use crate::cli::{DownloadArgs, GlobalArgs};
use crate::exit::usage;

/// Whether `--source auto` should stream from Zarr.
pub fn available() -> bool {
    false
}

pub fn run(_a: &DownloadArgs, _g: &GlobalArgs) -> anyhow::Result<()> {
    Err(usage(
        "--source zarr is not available in this build; use --source tiles",
    ))
}

pub fn sample(_a: &crate::cli::SampleArgs, _g: &GlobalArgs) -> anyhow::Result<()> {
    Err(usage(
        "--source zarr is not available in this build; use --source tiles",
    ))
}
