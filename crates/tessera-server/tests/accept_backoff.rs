//! Out of file descriptors, the server backs off instead of spinning on a listener that
//! stays ready, and serves the waiting connection once descriptors are free again.
//!
//! A test binary of its own: it lowers this process's descriptor limit.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use tessera_server::{MirrorServer, ServerConfig};
use tessera_testkit::scratch;

/// CPU seconds (user and system) this process has used.
fn cpu_seconds() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) }, 0);
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn max_open_fd() -> i32 {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .max()
        .unwrap()
}

fn set_fd_limit(soft: libc::rlim_t) -> libc::rlimit {
    let mut old: libc::rlimit = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
    let new = libc::rlimit {
        rlim_cur: soft,
        rlim_max: old.rlim_max,
    };
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) }, 0);
    old
}

#[test]
fn accept_failures_back_off_and_recover() {
    let dir = scratch("accept-backoff");
    std::fs::write(dir.join("k"), b"served").unwrap();
    let s = MirrorServer::start(ServerConfig::new(&dir)).unwrap();
    // Fill every gap below the highest descriptor, then allow exactly one more: the client
    // socket takes it, and the server's accept of that connection fails with EMFILE.
    let top = max_open_fd();
    let mut fillers = Vec::new();
    loop {
        let f = std::fs::File::open("/dev/null").unwrap();
        if f.as_raw_fd() > top {
            break;
        }
        fillers.push(f);
    }
    let old = set_fd_limit(top as libc::rlim_t + 2);
    let mut t = TcpStream::connect(s.handle().addr()).unwrap();
    assert!(
        std::fs::File::open("/dev/null").is_err(),
        "no descriptor is left"
    );
    let cpu0 = cpu_seconds();
    let wall = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    let used = cpu_seconds() - cpu0;
    let elapsed = wall.elapsed().as_secs_f64();
    set_fd_limit(old.rlim_cur);
    drop(fillers);
    assert!(
        used < 0.4,
        "the server used {used:.2} s of CPU in {elapsed:.2} s while it could not accept"
    );
    t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        t,
        "GET /k HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    t.read_to_string(&mut resp).unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 200") && resp.ends_with("served"),
        "{resp}"
    );
}
