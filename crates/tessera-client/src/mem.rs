//! Large output buffers. A region or tile read as float32 is hundreds of megabytes written
//! once: with 4 KiB pages its first write takes a page fault every 4 KiB, which costs as
//! much as the dequantisation itself. Buffers from [`zeroed`] ask the kernel for
//! transparent huge pages (2 MiB) where it offers them, 512 times fewer faults; elsewhere
//! they are plain zeroed vectors.

/// Tunes glibc's malloc for work made of many buffers of 100 KiB to a few hundred MiB
/// (inner chunks, decode scratch, file spans, strip windows): by default each such buffer
/// above 128 KiB (and above 32 MiB once the threshold has adapted) is a fresh mapping, and
/// freed heap tops go back to the kernel, so every call faults its memory in again (a fifth
/// of a 1,000-point read; 740,000 faults and a quarter of the time of a 3x3-tile
/// `visualize`). Allocations below 256 MiB then come from the heap, and up to 512 MiB of a
/// freed heap top is kept. Called once by the command line
/// and by the Python extension at import; left alone when the user tunes malloc
/// (`GLIBC_TUNABLES` with `glibc.malloc`, or `MALLOC_*` variables).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let user_tuned = std::env::vars_os().any(|(k, v)| {
                let k = k.to_string_lossy();
                (k == "GLIBC_TUNABLES" && v.to_string_lossy().contains("glibc.malloc"))
                    || k.starts_with("MALLOC_")
            });
            if user_tuned {
                return;
            }
            // SAFETY: mallopt only changes thresholds of the process's allocator.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
            }
        });
    }
}

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

/// Total size of the idle output buffers kept for reuse.
const POOL_BYTES: usize = 1 << 30;
/// How long an idle buffer is kept before its memory goes back to the system.
const POOL_IDLE: std::time::Duration = std::time::Duration::from_secs(2);

/// A float32 output buffer of `n` values whose contents are unspecified: the caller must
/// write every value. A large one is an idle buffer of about the same size handed back by
/// [`recycle_f32`] (already mapped, so it costs no page faults and no zeroing by the
/// kernel, which is half the time of reading a tile), else a fresh [`zeroed`] one.
pub fn output_f32(n: usize) -> Vec<f32> {
    if n * 4 >= HUGE_FROM
        && let Some(v) = pool::POOL.take(n)
    {
        return v;
    }
    zeroed(n)
}

/// Hands a float32 buffer that is no longer used back for reuse by [`output_f32`]: only
/// large ones are kept, at most [`POOL_BYTES`] in all, each for [`POOL_IDLE`] (a
/// background thread then frees it), so a process that stops reading gives its memory
/// back within seconds.
pub fn recycle_f32(v: Vec<f32>) {
    if v.len() * 4 >= HUGE_FROM {
        pool::POOL.put(v);
    }
}

/// Frees every idle buffer now (after a fork: the child has no reaper thread).
pub fn release_idle() {
    pool::POOL.clear();
}

mod pool {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    struct Idle {
        buf: Vec<f32>,
        since: Instant,
    }

    /// Idle buffers, at most `max_bytes` in all, each kept for `keep`.
    pub(super) struct Pool {
        idle: Mutex<Vec<Idle>>,
        reaper: AtomicBool,
        max_bytes: usize,
        keep: Duration,
    }

    /// The process's pool.
    pub(super) static POOL: Pool = Pool::new(super::POOL_BYTES, super::POOL_IDLE);

    fn bytes(v: &[f32], cap: usize) -> usize {
        debug_assert!(cap >= v.len());
        cap * 4
    }

    impl Pool {
        pub(super) const fn new(max_bytes: usize, keep: Duration) -> Pool {
            Pool {
                idle: Mutex::new(Vec::new()),
                reaper: AtomicBool::new(false),
                max_bytes,
                keep,
            }
        }

        /// The smallest idle buffer holding `n` to `n + n/4` values, cut to `n`. Never
        /// waits for the lock (a forked child may find it held by a thread it does not
        /// have).
        pub(super) fn take(&self, n: usize) -> Option<Vec<f32>> {
            let mut idle = self.idle.try_lock().ok()?;
            let i = idle
                .iter()
                .enumerate()
                .filter(|(_, b)| b.buf.len() >= n && b.buf.len() <= n + n / 4)
                .min_by_key(|(_, b)| b.buf.len())
                .map(|(i, _)| i)?;
            let mut v = idle.swap_remove(i).buf;
            v.truncate(n);
            Some(v)
        }

        pub(super) fn put(&'static self, v: Vec<f32>) {
            if bytes(&v, v.capacity()) > self.max_bytes {
                return;
            }
            let Ok(mut idle) = self.idle.try_lock() else {
                return;
            };
            let mut evicted = Vec::new();
            let mut total: usize = idle.iter().map(|b| bytes(&b.buf, b.buf.capacity())).sum();
            while total + bytes(&v, v.capacity()) > self.max_bytes && !idle.is_empty() {
                // The oldest goes first.
                let oldest = idle.remove(0);
                total -= bytes(&oldest.buf, oldest.buf.capacity());
                evicted.push(oldest);
            }
            idle.push(Idle {
                buf: v,
                since: Instant::now(),
            });
            if !self.reaper.swap(true, Ordering::SeqCst)
                && std::thread::Builder::new()
                    .name("tessera-buffers".into())
                    .spawn(|| self.reap())
                    .is_err()
            {
                // No thread: keep nothing idle.
                self.reaper.store(false, Ordering::SeqCst);
                evicted.extend(idle.drain(..));
            }
            drop(idle);
            drop(evicted); // freed outside the lock
        }

        /// Frees buffers idle for `keep` or longer; ends when none is left.
        fn reap(&self) {
            loop {
                std::thread::sleep(self.keep / 2);
                let Ok(mut idle) = self.idle.lock() else {
                    return;
                };
                let (old, keep): (Vec<Idle>, Vec<Idle>) = std::mem::take(&mut *idle)
                    .into_iter()
                    .partition(|b| b.since.elapsed() >= self.keep);
                *idle = keep;
                let done = idle.is_empty();
                if done {
                    self.reaper.store(false, Ordering::SeqCst);
                }
                drop(idle);
                drop(old);
                if done {
                    return;
                }
            }
        }

        pub(super) fn clear(&self) {
            if let Ok(mut idle) = self.idle.try_lock() {
                let all = std::mem::take(&mut *idle);
                self.reaper.store(false, Ordering::SeqCst);
                drop(idle);
                drop(all);
            }
        }

        #[cfg(test)]
        pub(super) fn count(&self) -> usize {
            self.idle.lock().map(|i| i.len()).unwrap_or(0)
        }
    }
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
    fn idle_buffers_are_reused_bounded_then_given_back() {
        use std::time::{Duration, Instant};
        static P: super::pool::Pool = super::pool::Pool::new(48 << 20, Duration::from_millis(200));
        let n = 3 << 20; // 12 MiB of float32
        let v = vec![1.0f32; n];
        let ptr = v.as_ptr();
        P.put(v);
        assert_eq!(P.count(), 1);
        // Only a request of about the same size (up to a quarter smaller) reuses it.
        assert!(P.take(n / 2).is_none());
        assert!(P.take(n + 1).is_none());
        let again = P.take(n - 100).expect("reused");
        assert_eq!((again.as_ptr(), again.len()), (ptr, n - 100));
        assert_eq!(P.count(), 0);
        // The bound: five 12 MiB buffers do not fit in 48 MiB; the oldest goes.
        for _ in 0..5 {
            P.put(vec![0.0f32; n]);
        }
        assert_eq!(P.count(), 4);
        // The reaper frees idle buffers within about twice the idle time.
        let t = Instant::now();
        while P.count() > 0 {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "an idle buffer was kept"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // And starts again for the next buffer.
        P.put(again);
        assert_eq!(P.count(), 1);
        P.clear();
        assert_eq!(P.count(), 0);
    }

    #[test]
    fn output_buffers_have_the_length_asked_for() {
        for n in [0usize, 10, 3 << 20] {
            let v = super::output_f32(n);
            assert_eq!(v.len(), n);
            super::recycle_f32(v);
        }
    }

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
