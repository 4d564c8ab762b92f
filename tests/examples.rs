//! The course's programs (`examples/`, see `shared/reference/classroom-examples.md`): each
//! runs as a real set of processes and shows what its lesson needs it to show.

use std::path::PathBuf;
mod common;

use std::process::Output;
use std::time::Duration;

/// An example binary built beside this test (`cargo test` builds every example).
fn example(name: &str) -> PathBuf {
    // This test runs as target/<profile>/deps/examples-<hash>; the examples are built into
    // target/<profile>/examples.
    let me = std::env::current_exe().expect("the test's own path");
    let path = me
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --examples`",
        path.display()
    );
    path
}

fn run(name: &str, args: &[&str]) -> (Output, String) {
    let what = format!("example {name} {args:?}");
    let out = common::output_within(
        common::command(example(name)).args(args),
        Duration::from_secs(60),
        &what,
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed: {}\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// The number after `pid ` in a line.
fn pid_in(line: &str) -> u32 {
    line.split("pid ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line:?}"))
}

fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

#[test]
fn hello_child_and_parent_are_two_processes() {
    let (_, text) = run("hello", &[]);
    let child = pid_in(line_with(&text, "hello bob filho"));
    let parent = pid_in(line_with(&text, "hello bob pai"));
    assert_ne!(child, parent, "{text}");
}

#[test]
fn hello4_four_children_each_id_once() {
    let (_, text) = run("hello4", &[]);
    let mut ids: Vec<u32> = text
        .lines()
        .filter_map(|l| l.strip_prefix("hello bob filho "))
        .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec![0, 1, 2, 3], "{text}");
    line_with(&text, "hello bob pai");
    line_with(&text, "CPUs");
}

#[test]
fn pi_serial_shows_pi_time_and_error() {
    let (_, text) = run("pi_serial", &["1e6"]);
    let pi: f64 = line_with(&text, "pi = ")[5..].parse().unwrap();
    assert!((pi - std::f64::consts::PI).abs() < 1e-10, "{text}");
    line_with(&text, "elapsed = ");
    line_with(&text, "error = ");
    // Why its last digits differ from the parallel programs': said, not left to surprise.
    assert!(text.contains("rounding"), "{text}");
}

/// The `pi = ` value printed by an example.
fn pi_of(text: &str) -> String {
    line_with(text, "pi = ").to_string()
}

#[test]
fn pi_processes_covers_every_index_and_all_pi_examples_agree() {
    for (steps, procs) in [("1000003", "3"), ("10", "4"), ("3", "5")] {
        let (_, text) = run("pi_processes", &[steps, procs]);
        let handed: u64 = text
            .lines()
            .filter(|l| l.starts_with("process "))
            .map(|l| {
                l.split(": ")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
            })
            .sum();
        assert_eq!(handed.to_string(), steps, "{text}");
        line_with(&text, &format!("indices handed out: {steps} of {steps}"));
        let pi = pi_of(&text);
        assert_eq!(
            pi_of(&run("pi_pipes", &[steps, procs]).1),
            pi,
            "pi_pipes differs"
        );
        assert_eq!(
            pi_of(&run("pi_queue", &[steps, procs]).1),
            pi,
            "pi_queue differs"
        );
    }
}

/// The pi programs print their time (so a class sees the speedup over pi_serial), and the
/// queue version says who took which ranges: every range once, every worker named.
#[test]
fn pi_programs_time_themselves_and_the_queue_says_who_took_what() {
    for name in [
        "pi_serial",
        "pi_threads",
        "pi_processes",
        "pi_pipes",
        "pi_queue",
    ] {
        let (_, text) = run(name, &["1000000", "3"]);
        line_with(&text, "elapsed = ");
        line_with(&text, "pi = ");
        line_with(&text, "error = ");
        for line in text.lines() {
            assert!(
                line.chars().count() <= 80,
                "{name}: wider than 80: {line:?}"
            );
        }
    }
    // The threads say they are threads of one process.
    let (_, text) = run("pi_threads", &["1000000", "3"]);
    assert!(text.contains("3 threads of one process"), "{text}");
    let (_, text) = run("pi_queue", &["1000000", "3"]);
    let took: Vec<u64> = text
        .lines()
        .filter(|l| l.starts_with("pid ") && l.contains(" took "))
        .map(|l| {
            l.split(" took ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(took.len(), 3, "one line per worker: {text}");
    assert_eq!(took.iter().sum::<u64>(), 12, "every range once: {text}");
}

#[test]
fn isolation_children_change_only_their_copies() {
    let (_, text) = run("isolation", &[]);
    assert_eq!(text.matches("processed 6 items").count(), 3, "{text}");
    // Each child says its own name (Python's defaults) and its own pid.
    let mut pids = Vec::new();
    for name in ["Process-1", "Process-2", "Process-3"] {
        let line = line_with(&text, &format!("{name} (pid "));
        pids.push(
            line.split(['(', ')'])
                .nth(1)
                .unwrap_or_default()
                .to_string(),
        );
    }
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 3, "three processes: {text}");
    line_with(
        &text,
        "ITEMS after all workers finished : [1, 2, 3, 4, 5, 6]",
    );
}

/// How many items each consumer of the `queue` example says it processed.
fn consumer_counts(text: &str) -> Vec<u32> {
    text.lines()
        .filter_map(|l| l.split("processed ").nth(1))
        .map(|r| r.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn queue_consumers_share_six_items() {
    let (_, text) = run("queue", &[]);
    let counts = consumer_counts(&text);
    assert_eq!(counts.len(), 3, "{text}");
    assert_eq!(counts.iter().sum::<u32>(), 6, "{text}");
    line_with(&text, "#ITEMS after all workers finished : 0");
}

/// The lesson is that the sharing is not fair: one consumer may take five items and another
/// none. Within a few runs, some run shows consumers taking different numbers of items.
#[test]
fn queue_consumers_do_not_take_turns() {
    for _ in 0..10 {
        let counts = consumer_counts(&run("queue", &[]).1);
        if counts.iter().max() != counts.iter().min() {
            return;
        }
    }
    panic!("ten runs, and every consumer always took the same number of items");
}

#[test]
fn pipe_worker_reads_in_order_and_master_gets_thanks() {
    let (_, text) = run("pipe", &[]);
    let words: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("worker got: "))
        .collect();
    assert_eq!(&words[..3], ["Is", "this", "on?"], "{text}");
    line_with(&text, "master got: thanks");
}

#[test]
fn dependencies_compute_r_in_separate_processes() {
    let (_, text) = run("dependencies", &[]);
    let r = line_with(&text, "r = q - p = 1");
    let p = line_with(&text, "p = a + b = 5");
    let q = line_with(&text, "q = a * b = 6");
    let mut pids = vec![
        pid_in(r),
        pid_in(p),
        pid_in(q),
        pid_in(line_with(&text, "a = 2")),
        pid_in(line_with(&text, "b = 3")),
    ];
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 5, "five tasks, five processes: {text}");
}

#[test]
fn threads_share_memory_and_processes_do_not() {
    let (_, text) = run("threads_vs_processes", &[]);
    // Different amounts, so each number says whose change it is.
    line_with(&text, "after a thread added 1: counter = 1");
    line_with(&text, "counter 0 -> 100");
    assert!(
        text.lines()
            .any(|l| l == "after a process added 100: counter = 1"),
        "the parent's counter is untouched by the child: {text}"
    );
    line_with(&text, "the child's 100 came back");
}

#[test]
fn lock_makes_the_counter_exact() {
    let (_, text) = run("lock", &["4", "2000"]);
    let without = line_with(&text, "without lock: ");
    assert!(
        without["without lock: ".len()..]
            .trim()
            .parse::<u64>()
            .is_ok(),
        "{text}"
    );
    assert!(text.lines().any(|l| l == "with lock: 8000"), "{text}");
}

#[test]
fn shared_state_child_writes_are_seen_by_the_parent() {
    let (_, text) = run("shared_state", &[]);
    let lines: Vec<&str> = text.lines().collect();
    // What the parent read before its child wrote, then after: the child's writes.
    assert!(lines[0].starts_with("before: 0 and [0, 1, 2"), "{text}");
    assert!(lines[1].contains("wrote into shared memory"), "{text}");
    assert_eq!(
        lines[2..],
        ["3.1415927", "[0, -1, -2, -3, -4, -5, -6, -7, -8, -9]"],
        "{text}"
    );
}

#[test]
fn sync_primitives_each_scene_shows_its_outcome() {
    let (_, text) = run("sync_primitives", &[]);
    assert!(
        line_with(&text, "lock: while the parent holds it").contains("timed out"),
        "{text}"
    );
    assert!(
        line_with(&text, "rlock:").contains("took the RLock twice"),
        "{text}"
    );
    assert!(
        line_with(&text, "semaphore:").contains("at most 2 inside at once"),
        "{text}"
    );
    assert!(
        line_with(&text, "event:")
            .contains("0 waiters passed before set() at 100 ms; then all 3 woke"),
        "{text}"
    );
    let barrier: Vec<&str> = text.lines().filter(|l| l.starts_with("barrier:")).collect();
    assert_eq!(barrier.len(), 3, "{text}");
    let first = barrier
        .iter()
        .find(|l| l.contains("arrived after 0 ms"))
        .unwrap_or_else(|| panic!("{text}"));
    let waited: u64 = first
        .split("waited ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(waited >= 90, "the first waited for the last: {text}");
    assert!(
        line_with(&text, "condition:").contains("all 3 items were in (on time)"),
        "{text}"
    );
}

#[test]
fn pool_maps_applies_times_out_and_uses_several_workers() {
    let (_, text) = run("pool", &[]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]", "{text}");
    assert!(line_with(&text, "apply_async").ends_with("= 400"), "{text}");
    assert!(
        line_with(&text, "get(timeout").contains("timeout"),
        "{text}"
    );
    let workers: usize = line_with(&text, "imap_unordered")
        .split("from ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        workers >= 2,
        "results from several worker processes: {text}"
    );
}

/// The course table in the repository names every example, and shows what each printed.
#[test]
fn the_course_table_in_the_repository_covers_every_example() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let table = std::fs::read_to_string(dir.join("README.md")).expect("examples/README.md");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            assert!(
                table.contains(&format!("$ cargo run --release --example {name}\n")),
                "examples/README.md shows no run of {name}"
            );
        }
    }
}

/// The keys of one of the examples' catalogues (`key = "..."` lines).
fn example_keys(language: &str) -> std::collections::BTreeSet<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("examples/locales/{language}.toml"));
    std::fs::read_to_string(path)
        .expect("a catalogue")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim().to_string()))
        .collect()
}

/// The narration follows the language; what the deck prints stays as the deck has it; both
/// catalogues have every key, and every key is used.
#[test]
fn the_examples_narrate_in_portuguese_under_a_portuguese_locale() {
    let pt = |name: &str| {
        let out = common::output_within(
            std::process::Command::new(example(name))
                .env_remove("LC_ALL")
                .env_remove("LC_MESSAGES")
                .env("LANG", "pt_BR.UTF-8"),
            Duration::from_secs(60),
            name,
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = pt("threads_vs_processes");
    assert!(
        text.contains("depois que uma thread somou 1: contador = 1"),
        "{text}"
    );
    assert!(
        text.contains("no processo filho"),
        "children speak it too: {text}"
    );
    let hello = pt("hello");
    assert!(
        hello.contains("hello bob filho") && hello.contains("hello bob pai"),
        "{hello}"
    );
    let (en, pt) = (example_keys("en"), example_keys("pt"));
    assert_eq!(en, pt, "the two catalogues differ in keys");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let sources: String = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    let unused: Vec<&String> = en
        .iter()
        .filter(|k| !sources.contains(&format!("\"{k}\"")))
        .collect();
    assert!(unused.is_empty(), "never used: {unused:?}");
}
