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

/// A command for `program` that speaks English whatever the test machine's locale: the tools
/// follow `LC_ALL`, `LC_MESSAGES` and `LANG` (tests of Portuguese set them again).
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    let mut c = std::process::Command::new(program);
    c.env("LC_ALL", "C");
    c
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
/// For a worker that fails on purpose: its stderr goes to `/dev/null`, so the panic message
/// (or the "returned an error" line) it would print, as a failing child should, stays out of a
/// passing test run's output. The parent still gets the failure through `failure()`.
#[allow(dead_code)]
pub fn quiet_stderr() {
    if let Ok(null) = std::fs::File::options().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stderr(&null);
    }
}

pub fn check(cond: bool, what: impl Into<String>) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

/// Runs `command` with its output captured, killing it if it is not done within `limit`
/// (then the test fails, naming `what`).
pub fn output_within(
    command: &mut std::process::Command,
    limit: Duration,
    what: &str,
) -> std::process::Output {
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    // Drain both pipes while waiting, so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let read_all = |r: &mut dyn std::io::Read| {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    };
    let out_reader = thread::spawn(move || read_all(&mut out));
    let err_reader = thread::spawn(move || read_all(&mut err));
    let status = wait_within(&mut child, limit, what);
    std::process::Output {
        status,
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    }
}

/// A directory of a test's own under the temporary directory, empty at first and removed
/// with everything in it when dropped.
pub struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    /// A new, empty directory named after `name` and this process.
    pub fn new(name: &str) -> ScratchDir {
        let dir = std::env::temp_dir().join(format!("multiproc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        ScratchDir(dir)
    }

    /// The path of `file` in it.
    pub fn join(&self, file: &str) -> std::path::PathBuf {
        self.0.join(file)
    }

    /// The names of the files in it, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .expect("read the scratch directory")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits for `child` to exit, killing it if it has not within `limit` (then the test fails,
/// naming `what`).
pub fn wait_within(
    child: &mut std::process::Child,
    limit: Duration,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}; killed");
        }
        thread::sleep(Duration::from_millis(5));
    }
}
