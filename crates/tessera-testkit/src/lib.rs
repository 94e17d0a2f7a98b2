//! Test helpers shared by the workspace's integration tests: running the oracles our users
//! read our files with (Python with NumPy, pyarrow and pyproj; GDAL's command-line tools).
//!
//! The oracles are required, never optional: a missing tool fails the test with a message
//! saying how to install it (`.ci/run` installs them all).

#![warn(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python interpreter with the oracle packages: `$TESSERA_PYTHON`, else `python3`.
pub fn python() -> PathBuf {
    std::env::var_os("TESSERA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Runs a Python script (source text) with arguments; returns stdout. Panics with the
/// script's stderr when it fails.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {:?} ({e}); set TESSERA_PYTHON to a Python with numpy, pyarrow, pandas and pyproj (see .ci/run)",
                python()
            )
        });
    assert!(
        out.status.success(),
        "python oracle failed:\n--- stderr ---\n{}\n--- stdout ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Runs a command-line tool and returns stdout, panicking with its stderr on failure.
pub fn run_tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {program} ({e}); install it (Debian: apt-get install gdal-bin), see .ci/run")
    });
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `gdalinfo -json` of a file, parsed.
pub fn gdalinfo(path: &Path) -> serde_json::Value {
    let text = run_tool(
        "gdalinfo",
        &["-json", "-mdd", "all", &path.to_string_lossy()],
    );
    serde_json::from_str(&text).expect("gdalinfo -json output is JSON")
}

/// `gdallocationinfo -valonly` of pixel (col, row) for one band (1-based), as text.
pub fn gdal_value(path: &Path, band: usize, col: usize, row: usize) -> String {
    run_tool(
        "gdallocationinfo",
        &[
            "-valonly",
            "-b",
            &band.to_string(),
            &path.to_string_lossy(),
            &col.to_string(),
            &row.to_string(),
        ],
    )
    .trim()
    .to_string()
}

/// A fresh, empty directory for one test (under the system temp dir).
///
/// It is removed when the test's thread ends, unless the test failed (then it is kept for
/// inspection, until the next run reaps it) or `TESSERA_KEEP_SCRATCH` is set: a test binary
/// of many end-to-end tests must not hold every test's mirror and outputs on the disk at
/// once. Directories that outlive one test (a mirror shared through a `OnceLock`) come from
/// [`scratch_shared`].
pub fn scratch(name: &str) -> PathBuf {
    let dir = make_scratch(name);
    cleanup::register(&dir);
    dir
}

/// A fresh, empty directory shared by the tests of one binary: removed when the binary
/// exits, unless a test failed or `TESSERA_KEEP_SCRATCH` is set (then the next run's
/// reaping removes it).
pub fn scratch_shared(name: &str) -> PathBuf {
    let dir = make_scratch(name);
    cleanup::register_shared(&dir);
    dir
}

fn make_scratch(name: &str) -> PathBuf {
    let base = std::env::temp_dir().join("tessera-tests");
    reap(&base);
    let dir = base.join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Per-test cleanup: each test runs on its own thread (libtest), so the directories one
/// test made are a thread-local list, removed by its destructor when the thread ends. A
/// panic hook marks the thread as failed first, and a failed test keeps its directories.
mod cleanup {
    use std::cell::{Cell, RefCell};
    use std::path::{Path, PathBuf};

    struct Dirs(RefCell<Vec<PathBuf>>);

    /// Set by the panic hook when any test of this process fails.
    static ANY_FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    /// The directories shared by the whole binary, removed at exit.
    static SHARED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

    fn keep() -> bool {
        std::env::var_os("TESSERA_KEEP_SCRATCH").is_some()
    }

    extern "C" fn remove_shared() {
        if ANY_FAILED.load(std::sync::atomic::Ordering::SeqCst) || keep() {
            return;
        }
        if let Ok(dirs) = SHARED.lock() {
            for d in dirs.iter() {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }

    /// Registers a directory to be removed when the process exits (libtest returns from
    /// `main` when every test passed, and exits with 101 after a failure, which the panic
    /// hook has recorded).
    pub(super) fn register_shared(dir: &Path) {
        install_hook();
        static AT_EXIT: std::sync::Once = std::sync::Once::new();
        AT_EXIT.call_once(|| {
            // SAFETY: registers a plain `extern "C" fn` with no captured state.
            unsafe {
                libc::atexit(remove_shared);
            }
        });
        if let Ok(mut dirs) = SHARED.lock() {
            dirs.push(dir.to_path_buf());
        }
    }

    fn install_hook() {
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                ANY_FAILED.store(true, std::sync::atomic::Ordering::SeqCst);
                let _ = FAILED.try_with(|f| f.set(true));
                previous(info);
            }));
        });
    }

    impl Drop for Dirs {
        fn drop(&mut self) {
            if FAILED.with(|f| f.get()) || keep() {
                return;
            }
            for d in self.0.borrow().iter() {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }

    thread_local! {
        static DIRS: Dirs = const { Dirs(RefCell::new(Vec::new())) };
        static FAILED: Cell<bool> = const { Cell::new(false) };
    }

    pub(super) fn register(dir: &Path) {
        install_hook();
        if std::thread::current().name() == Some("main") {
            // Not a libtest thread (a test harness of its own): nothing ends with the test,
            // so the directory goes when the process exits.
            register_shared(dir);
            return;
        }
        DIRS.with(|d| d.0.borrow_mut().push(dir.to_path_buf()));
    }
}

/// Removes the scratch directories of test processes that are no longer running (their
/// names end in the process id), so that repeated runs do not fill the disk.
fn reap(base: &Path) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(rd) = std::fs::read_dir(base) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .rsplit('-')
                .next()
                .and_then(|p| p.split('.').next())
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    });
}

/// A PNG decoded with the png crate as RGBA (RGB gets alpha 255, palettes are expanded):
/// `(width, height, pixels)`. Panics on other colour types, naming the file.
pub fn png_rgba(path: &Path) -> (u32, u32, Vec<u8>) {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut d = png::Decoder::new(std::io::BufReader::new(f));
    d.set_transformations(png::Transformations::EXPAND);
    let mut r = d.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    let px = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::Rgb => buf
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        c => panic!("{}: colour type {c:?}", path.display()),
    };
    (info.width, info.height, px)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passing_test_leaves_no_scratch_directory_and_a_failing_one_keeps_it() {
        let passed = std::thread::spawn(|| scratch("testkit-pass"))
            .join()
            .unwrap();
        assert!(!passed.exists(), "{} was not removed", passed.display());
        let dir = std::sync::Arc::new(std::sync::Mutex::new(PathBuf::new()));
        let d = dir.clone();
        let failed = std::thread::spawn(move || {
            *d.lock().unwrap() = scratch("testkit-fail");
            panic!("a failing test");
        })
        .join();
        assert!(failed.is_err());
        let kept = dir.lock().unwrap().clone();
        assert!(
            kept.is_dir(),
            "{} of a failed test was removed",
            kept.display()
        );
        std::fs::remove_dir_all(&kept).unwrap();
        let shared = std::thread::spawn(|| scratch_shared("testkit-shared"))
            .join()
            .unwrap();
        assert!(shared.is_dir(), "a shared directory outlives its test");
        std::fs::remove_dir_all(&shared).unwrap();
    }

    #[test]
    fn shared_directories_are_removed_when_the_test_process_exits() {
        if std::env::var_os("TESSERA_TESTKIT_CHILD").is_some() {
            let d = scratch_shared("testkit-exit");
            std::fs::write(d.join("f"), b"x").unwrap();
            println!("SHARED={}", d.display());
            return;
        }
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "tests::shared_directories_are_removed_when_the_test_process_exits",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("TESSERA_TESTKIT_CHILD", "1")
            .env_remove("TESSERA_KEEP_SCRATCH")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let dir = stdout
            .split_once("SHARED=")
            .and_then(|(_, rest)| rest.lines().next())
            .unwrap_or_else(|| panic!("the child made no directory: {stdout}"));
        assert!(!Path::new(dir).exists(), "{dir} outlived its process");
    }
}
