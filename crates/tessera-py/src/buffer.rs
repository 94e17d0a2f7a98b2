//! Float32 results handed to NumPy without a copy, whose memory goes back to the library's
//! pool of output buffers (`tessera_client::mem`) when NumPy frees the array: the next
//! read of about the same size reuses it instead of faulting in and zeroing fresh pages.

use numpy::ndarray::{ArrayView, Dimension, IntoDimension};
use numpy::{Element, PyArray};
use pyo3::prelude::*;

use crate::errors::usage;

/// The Rust buffer behind a float32 array (the array's `base`).
#[pyclass(frozen, module = "geotessera_rs._native")]
pub struct RustBuffer {
    data: Vec<f32>,
}

impl Drop for RustBuffer {
    fn drop(&mut self) {
        tessera_client::mem::recycle_f32(std::mem::take(&mut self.data));
    }
}

/// `data` as a C-contiguous NumPy array of `shape`, viewing the Rust buffer.
pub fn f32_array<'py, Sh>(
    py: Python<'py>,
    data: Vec<f32>,
    shape: Sh,
) -> PyResult<Bound<'py, PyArray<f32, Sh::Dim>>>
where
    Sh: IntoDimension,
    f32: Element,
{
    let dim = shape.into_dimension();
    if dim.size_checked() != Some(data.len()) {
        return Err(usage(format!(
            "{} values do not fill an array of shape {:?}",
            data.len(),
            dim.slice()
        )));
    }
    let owner = Bound::new(py, RustBuffer { data })?;
    let ptr = owner.get().data.as_ptr();
    // SAFETY: `ptr` points at `dim.size()` initialised values owned by `owner`, which is
    // frozen (its vector is never resized or moved) and outlives the array, whose base it
    // becomes.
    let view = unsafe { ArrayView::from_shape_ptr(dim, ptr) };
    Ok(unsafe { PyArray::borrow_from_array(&view, owner.into_any()) })
}
