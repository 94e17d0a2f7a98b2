//! Large output buffers. A region or tile read as float32 is hundreds of megabytes written
//! once: with 4 KiB pages its first write takes a page fault every 4 KiB, which costs as
//! much as the dequantisation itself. Buffers from [`zeroed`] ask the kernel for
//! transparent huge pages (2 MiB) where it offers them, 512 times fewer faults; elsewhere
//! they are plain zeroed vectors.

/// Buffers below this size keep ordinary pages.
const HUGE_FROM: usize = 8 << 20;

/// A zeroed vector of `n` values (zero bits), backed by huge pages where the kernel allows.
pub fn zeroed<T: Copy + Default>(n: usize) -> Vec<T> {
    // `vec![0; n]` is calloc: a large one is fresh mapped memory, untouched until written,
    // so the advice reaches it before the first fault.
    let mut v = vec![T::default(); n];
    advise_huge(v.as_mut_ptr().cast(), n * std::mem::size_of::<T>());
    v
}

/// A vector of `n` copies of `value`, backed by huge pages where the kernel allows.
pub fn filled<T: Copy>(n: usize, value: T) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    advise_huge(v.as_mut_ptr().cast(), n * std::mem::size_of::<T>());
    v.resize(n, value);
    v
}

#[cfg(target_os = "linux")]
fn advise_huge(ptr: *mut u8, len: usize) {
    const HUGE: usize = 2 << 20;
    if len < HUGE_FROM {
        return;
    }
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize + len) & !(HUGE - 1);
    if end > start {
        // SAFETY: the range lies inside an allocation we own and have not touched yet;
        // MADV_HUGEPAGE only changes how its pages are backed, never their contents.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_ptr: *mut u8, _len: usize) {}

#[cfg(test)]
mod tests {
    #[test]
    fn buffers_are_zeroed_and_sized() {
        for n in [0usize, 1, 1000, 5 << 20] {
            let v: Vec<f32> = super::zeroed(n);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x == 0.0));
            let v = super::filled(n, f32::NAN);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|x| x.is_nan()));
        }
    }
}
