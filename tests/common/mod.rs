//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use libtest_mimic::Failed;

/// Runs `test` on its own thread and fails if it takes longer than `limit`. The test's
/// processes are its own: on success they were joined, on a hang they die with this process.
pub fn with_deadline(
    limit: Duration,
    test: impl FnOnce() -> Result<(), Failed> + Send + 'static,
) -> Result<(), Failed> {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("test-body".into())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(test));
            let _ = tx.send(result);
        })
        .expect("spawn test thread");
    match rx.recv_timeout(limit) {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Err(msg.into())
        }
        Err(_) => Err(format!("test did not finish within {limit:?}").into()),
    }
}

/// Whether `pid` no longer names a live process (gone, or a zombie waiting for someone
/// other than us).
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Waits up to `limit` for every pid in `pids` to be gone; returns the ones still there.
pub fn wait_gone(pids: &[u32], limit: Duration) -> Vec<u32> {
    let deadline = Instant::now() + limit;
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|p| !process_gone(*p)).collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Whether a path exists (for /proc checks).
pub fn exists(path: &str) -> bool {
    Path::new(path).exists()
}

/// A test of a harness-less test binary.
pub type Test = fn() -> Result<(), Failed>;

/// Runs `tests` with the usual test-runner command line, each under `limit`.
pub fn run_trials(tests: Vec<(&'static str, Test)>, limit: Duration) -> ! {
    let args = libtest_mimic::Arguments::from_args();
    let trials = tests
        .into_iter()
        .map(|(name, f)| libtest_mimic::Trial::test(name, move || with_deadline(limit, f)))
        .collect();
    libtest_mimic::run(&args, trials).exit()
}

/// `Ok` when `cond` holds, else a failure saying `what`.
pub fn check(cond: bool, what: impl Into<String>) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(what.into().into())
    }
}
