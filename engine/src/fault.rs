//! Crash points for tests. When the environment variable `PODS_TEST_CRASH_AT` names a
//! point (optionally `name:N` for its N-th pass), the process kills itself there with
//! SIGKILL, exactly as `kill -9` would: no destructor, no cleanup. Unset, a point costs
//! one atomic load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

fn target() -> Option<&'static (String, u64)> {
    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let spec = std::env::var("PODS_TEST_CRASH_AT").ok()?;
            match spec.split_once(':') {
                Some((name, n)) => Some((name.to_string(), n.parse().ok()?)),
                None => Some((spec, 1)),
            }
        })
        .as_ref()
}

/// Marks a point where a crash must be survivable.
pub fn point(name: &str) {
    static PASSES: AtomicU64 = AtomicU64::new(0);
    run_at(name);
    let Some((target, nth)) = target() else {
        return;
    };
    if target == name && PASSES.fetch_add(1, Ordering::SeqCst) + 1 == *nth {
        let _ = std::process::Command::new("kill").args(["-9", &std::process::id().to_string()]).status();
        // SIGKILL is not instant; never go on past the point.
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
}

/// Simulates a program writing a file while pods reads it: when the environment variable
/// `PODS_TEST_WRITE_DURING_READ` names the file (`NAME`, or `NAME:always` for every read),
/// a byte is appended to it right after pods read it and before pods checks it is unchanged.
pub fn write_during_read(path: &std::path::Path) {
    static DONE: AtomicU64 = AtomicU64::new(0);
    let Ok(spec) = std::env::var("PODS_TEST_WRITE_DURING_READ") else { return };
    let (name, always) = match spec.strip_suffix(":always") {
        Some(name) => (name.to_string(), true),
        None => (spec, false),
    };
    if path.file_name().and_then(|n| n.to_str()) != Some(name.as_str()) {
        return;
    }
    if always || DONE.fetch_add(1, Ordering::SeqCst) == 0 {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new().append(true).open(path) {
            let _ = file.write_all(b"!");
        }
    }
}

/// Races for tests: when `PODS_TEST_RUN_AT` is `POINT=COMMAND`, the shell command runs
/// (and is waited for) the first time the process reaches that point, e.g. a teammate's
/// push in the middle of `gc --remote`.
fn run_at(name: &str) {
    static DONE: AtomicU64 = AtomicU64::new(0);
    static SPEC: OnceLock<Option<(String, String)>> = OnceLock::new();
    let spec = SPEC.get_or_init(|| {
        let spec = std::env::var("PODS_TEST_RUN_AT").ok()?;
        spec.split_once('=').map(|(p, c)| (p.to_string(), c.to_string()))
    });
    let Some((point, command)) = spec else { return };
    if point == name && DONE.fetch_add(1, Ordering::SeqCst) == 0 {
        let _ = std::process::Command::new("sh").args(["-c", command]).env_remove("PODS_TEST_RUN_AT").status();
    }
}
