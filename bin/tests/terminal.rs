//! `pi-master` on a terminal, as a class sees it: progress bars drawn in a pseudo-terminal of
//! 80 columns, read back through a terminal emulator (vt100) to see what is left on the
//! screen. Ctrl-C is typed into the terminal (the line discipline turns it into SIGINT for
//! the foreground process group), as a person would.
//!
//! Every run has a deadline; on failure the screen and the raw output are printed.

// The helpers every test binary of the workspace shares.
#[path = "../../tests/common/mod.rs"]
mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::pty::{Winsize, openpty};

const BIN: &str = env!("CARGO_BIN_EXE_pi-master");
const DEADLINE: Duration = Duration::from_secs(60);
const ROWS: u16 = 24;
const COLS: u16 = 80;

/// A pi-master running on a pseudo-terminal (stdin and stderr), its stdout a pipe.
struct OnTerminal {
    child: std::process::Child,
    master: File,
    /// Everything written to the terminal so far.
    screen_bytes: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    what: String,
}

impl OnTerminal {
    fn start(args: &[&str]) -> OnTerminal {
        let size = Winsize {
            ws_row: ROWS,
            ws_col: COLS,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None).expect("a pseudo-terminal");
        let slave = File::from(pty.slave);
        // `setsid -c`: a session of its own with the terminal as its controlling terminal, so
        // a typed Ctrl-C reaches it as it would from a shell.
        let child = common::command("setsid")
            .arg("-c")
            .arg(BIN)
            .args(args)
            .stdin(slave.try_clone().unwrap())
            .stderr(slave)
            .stdout(Stdio::piped())
            .spawn()
            .expect("setsid runs");
        let master = File::from(pty.master);
        let screen_bytes = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&screen_bytes);
        let mut from_terminal = master.try_clone().unwrap();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once the last process holding the terminal has exited.
            while let Ok(n @ 1..) = from_terminal.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        OnTerminal {
            child,
            master,
            screen_bytes,
            reader: Some(reader),
            what: format!("pi-master {}", args.join(" ")),
        }
    }

    fn raw(&self) -> Vec<u8> {
        self.screen_bytes.lock().unwrap().clone()
    }

    /// Waits until the terminal shows `needle`.
    fn wait_for(&self, needle: &str) {
        let until = Instant::now() + DEADLINE;
        while !String::from_utf8_lossy(&self.raw()).contains(needle) {
            assert!(
                Instant::now() < until,
                "{}: no {needle:?} on the terminal:\n{}",
                self.what,
                String::from_utf8_lossy(&self.raw())
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types `keys` into the terminal.
    fn type_keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }

    /// Waits for the exit; the status, stdout, and the terminal's raw output.
    fn finish(mut self) -> (std::process::ExitStatus, String, Vec<u8>) {
        let status = common::wait_within(&mut self.child, DEADLINE, &self.what);
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            out.read_to_string(&mut stdout).unwrap();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (status, stdout, self.raw())
    }
}

impl Drop for OnTerminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The screen an 80×24 terminal shows after `raw`.
fn screen(raw: &[u8]) -> String {
    let mut parser = vt100::Parser::new(ROWS, COLS, 0);
    parser.process(raw);
    parser.screen().contents()
}

/// The lines written to the terminal, escape sequences removed, split where the cursor
/// returns: what each draw put on one row.
fn drawn_lines(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte.
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        plain.push(c);
    }
    plain
        .split(['\n', '\r'])
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

fn pids_in(text: &str) -> Vec<u32> {
    text.split("pid ")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

#[test]
fn ctrl_c_leaves_no_bar_on_the_screen_and_nothing_on_stdout() {
    for ipc in ["pipe", "queue", "pool"] {
        let args = [
            "--procs",
            "2",
            "--steps",
            "4e15",
            "--ipc",
            ipc,
            "--progress",
            "--verbose",
        ];
        let mut run = OnTerminal::start(&args);
        // Every worker's bar is up, under the whole run's.
        run.wait_for("worker 1 [");
        run.wait_for("all [");
        // The master is running its workers (it narrates them), its signals watched.
        run.wait_for("started worker 1");
        run.type_keys(b"\x03");
        let (status, stdout, raw) = run.finish();
        let shown = screen(&raw);
        let context = format!(
            "pi-master {}\n--- screen ---\n{shown}\n--- raw ---\n{:?}",
            args.join(" "),
            String::from_utf8_lossy(&raw)
        );
        assert_eq!(
            status.signal(),
            Some(2),
            "dies of SIGINT, not {status:?}: {context}"
        );
        assert!(stdout.is_empty(), "progress on stdout: {stdout:?}");
        assert!(shown.contains("interrupted by SIGINT"), "{context}");
        for line in shown.lines() {
            assert!(
                !line.contains("[#") && !line.contains("[-") && !line.contains("% "),
                "a stale bar stays on the screen: {line:?}\n{context}"
            );
        }
        // Every bar fits, with room for an echoed `^C` (narration may wrap: it is printed
        // once, above the bars, never redrawn).
        let bars = drawn_lines(&raw);
        let bars = bars.iter().filter(|l| {
            let l = l.trim_start();
            l.starts_with("all [") || l.starts_with("worker ")
        });
        for line in bars {
            let drawn = line.trim_end_matches("^C");
            assert!(
                drawn.chars().count() + 3 <= COLS as usize,
                "a bar line as wide as the terminal: {line:?}\n{context}"
            );
        }
        let pids = pids_in(&shown);
        assert!(
            pids.len() >= 2,
            "the narration names the workers: {context}"
        );
        let left = common::wait_gone(&pids, Duration::from_secs(5));
        assert!(left.is_empty(), "left running: {left:?}\n{context}");
    }
}

#[test]
fn bars_show_every_worker_percent_and_time_left_then_vanish_before_the_report() {
    let args = [
        "--procs",
        "3",
        "--steps",
        "6e9",
        "--ipc",
        "queue",
        "--progress",
    ];
    let run = OnTerminal::start(&args);
    run.wait_for("worker 2 [");
    let (status, stdout, raw) = run.finish();
    let shown = screen(&raw);
    let drawn = drawn_lines(&raw);
    let context = format!("--- screen ---\n{shown}\n--- drawn ---\n{drawn:#?}");
    assert!(status.success(), "{context}");
    // The bars said percentages and the time left, never raw counts.
    assert!(
        drawn
            .iter()
            .any(|l| l.contains("all [") && l.contains(" left")),
        "{context}"
    );
    assert!(
        drawn
            .iter()
            .any(|l| l.contains("worker 0 [") && l.contains("% of all")),
        "{context}"
    );
    assert!(!drawn.iter().any(|l| l.contains('/')), "{context}");
    // The report went to stdout, whole; nothing of the bars is left on the terminal.
    assert!(stdout.contains("pi by the midpoint rule"), "{stdout}");
    assert!(!shown.contains('['), "{context}");
}
