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
