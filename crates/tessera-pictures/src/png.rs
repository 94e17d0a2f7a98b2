//! PNG output (quicklooks, map tiles): written beside the final name and renamed into
//! place when complete.

use std::path::Path;

use crate::PictureError;

/// Writes an 8-bit RGBA image (`w × h × 4` bytes) to `path`.
pub fn write_rgba(path: &Path, w: usize, h: usize, rgba: &[u8]) -> Result<(), PictureError> {
    let io = |e: std::io::Error| PictureError::Io(format!("{}: {e}", path.display()));
    let (w32, h32) = (
        u32::try_from(w).map_err(|_| PictureError::Usage(format!("{w} px is too wide")))?,
        u32::try_from(h).map_err(|_| PictureError::Usage(format!("{h} px is too tall")))?,
    );
    if rgba.len() != w * h * 4 {
        return Err(PictureError::Usage(format!(
            "{} bytes is not a {w}x{h} RGBA image",
            rgba.len()
        )));
    }
    tessera_formats::atomic::write_atomic(path, |f| {
        let mut enc = ::png::Encoder::new(f, w32, h32);
        enc.set_color(::png::ColorType::Rgba);
        enc.set_depth(::png::BitDepth::Eight);
        let mut wr = enc.write_header().map_err(std::io::Error::other)?;
        wr.write_image_data(rgba).map_err(std::io::Error::other)?;
        wr.finish().map_err(std::io::Error::other)?;
        Ok(())
    })
    .map_err(io)
}
