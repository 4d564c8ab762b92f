//! `ipc-bench` through the real binary: it runs, its JSON has the documented fields, and bad
//! arguments are refused. Nothing here is timed.

// The helpers every test binary of the workspace shares.
#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ipc-bench");

fn ipc_bench(args: &[&str]) -> Output {
    let what = format!("ipc-bench {}", args.join(" "));
    common::output_within(
        common::command(BIN).args(args),
        Duration::from_secs(120),
        &what,
    )
}

fn show(args: &[&str], out: &Output) -> String {
    format!(
        "\n$ ipc-bench {}\n[{}]\n--- stdout ---\n{}\n--- stderr ---\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn json_records_have_the_documented_fields() {
    let args = [
        "--json",
        "--sizes",
        "8,70K",
        "--patterns",
        "1x1,2x2,3x1",
        "--repeat",
        "1",
        "--rounds",
        "200",
        "--scale",
        "0.01",
    ];
    let out = ipc_bench(&args);
    assert!(out.status.success(), "{}", show(&args, &out));
    let records: Value = serde_json::from_slice(&out.stdout).expect("one JSON list");
    let records = records.as_array().expect("a list");
    let mut seen = std::collections::BTreeSet::new();
    for r in records {
        let transport = r["transport"].as_str().unwrap();
        assert!(
            ["raw-pipe", "pipe", "pipe-bytes", "queue", "shm"].contains(&transport),
            "{r}"
        );
        if r["pattern"] == "ping-pong" {
            assert!(r["round_trip_us"].as_f64().unwrap() > 0.0, "{r}");
            assert_eq!(r["payload_bytes"], 8);
            seen.insert(format!("{transport} ping-pong"));
        } else {
            for key in [
                "payload_bytes",
                "messages",
                "seconds",
                "messages_per_second",
                "bytes_per_second",
            ] {
                assert!(r[key].as_f64().is_some_and(|x| x > 0.0), "{key} in {r}");
            }
            seen.insert(format!(
                "{transport} {} {}",
                r["pattern"].as_str().unwrap(),
                r["payload_bytes"]
            ));
        }
    }
    for want in [
        "raw-pipe 1x1 8",
        "pipe 1x1 8",
        "pipe-bytes 1x1 8",
        "queue 1x1 8",
        "pipe 2x2 71680",
        "pipe-bytes 2x2 71680",
        "queue 2x2 71680",
        "shm 1x1 8",
        "shm 2x2 71680",
        "queue 3x1 8",
        "raw-pipe ping-pong",
        "pipe ping-pong",
        "pipe-bytes ping-pong",
        "queue ping-pong",
        "shm ping-pong",
    ] {
        assert!(seen.contains(want), "missing {want}: {seen:?}");
    }
    // Patterns with N != M exist only for the queue.
    assert!(
        !seen.iter().any(|s| s.starts_with("pipe 3x1")
            || s.starts_with("pipe-bytes 3x1")
            || s.starts_with("shm 3x1")),
        "{seen:?}"
    );
}

#[test]
fn table_and_plot() {
    let dir = common::ScratchDir::new("ipc-bench-plot");
    let svg = dir.join("t.svg");
    let args = [
        "--sizes",
        "8,4K",
        "--patterns",
        "1x1",
        "--repeat",
        "1",
        "--rounds",
        "100",
        "--scale",
        "0.01",
        "--plot",
        svg.to_str().unwrap(),
    ];
    let out = ipc_bench(&args);
    assert!(out.status.success(), "{}", show(&args, &out));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["raw-pipe", "messages/s", "vs raw", "round trip"] {
        assert!(
            text.contains(needle),
            "missing {needle:?}{}",
            show(&args, &out)
        );
    }
    let wide: Vec<&str> = text.lines().filter(|l| l.chars().count() > 80).collect();
    assert!(
        wide.is_empty(),
        "wider than 80 columns: {wide:?}{}",
        show(&args, &out)
    );
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&svg_text).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    // The axes speak in the payload sizes measured and in binary units.
    let labels: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for needle in ["8 B", "4 KiB", "raw-pipe", "queue"] {
        assert!(
            labels.contains(&needle),
            "plot lacks {needle:?}: {labels:?}"
        );
    }
    assert!(
        labels.iter().any(|l| l.ends_with("iB/s")),
        "no rate label in binary units: {labels:?}"
    );
}

#[test]
fn bad_arguments_are_refused() {
    for (args, needle) in [
        (&["--sizes", "0"][..], "0 bytes"),
        (&["--sizes", "8,,16"][..], "empty"),
        (&["--sizes", "12Q"][..], "unknown unit"),
        (&["--sizes", "1G"][..], "unknown unit"),
        (&["--sizes", "65M"][..], "64M"),
        (&["--patterns", "0x1"][..], "1 to 64"),
        (&["--patterns", "two"][..], "not a pattern"),
        (&["--transports", "pigeon"][..], "unknown transport"),
        (
            &["--plot", "/nonexistent-dir/x.svg"][..],
            "cannot write the plot",
        ),
        (&["--repeat", "0"][..], "at least 1"),
        (&["--bogus"][..], "unexpected argument"),
    ] {
        let out = ipc_bench(args);
        assert_eq!(out.status.code(), Some(2), "{}", show(args, &out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(needle),
            "missing {needle:?}{}",
            show(args, &out)
        );
        assert!(!err.contains("panicked"), "{}", show(args, &out));
    }
}

#[test]
fn an_interrupted_run_leaves_an_existing_plot_file_intact() {
    let dir = common::ScratchDir::new("ipc-bench-kept");
    let svg = dir.join("throughput.svg");
    std::fs::write(&svg, "the plot of last week").unwrap();
    let mut child = common::command(BIN)
        .args(["--repeat", "99", "--plot", svg.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start ipc-bench");
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "ipc-bench did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        std::fs::read_to_string(&svg).unwrap(),
        "the plot of last week",
        "the existing plot was changed by a run that was interrupted"
    );
    assert_eq!(dir.names(), ["throughput.svg"], "no temporary file left");
}

/// Runs `ipc-bench` with `args` (which ask for JSON) and returns its records, keyed by the
/// value of `key` in each; fails showing the whole run if it fails or prints no list.
fn records_by(args: &[&str], key: &str) -> std::collections::BTreeMap<String, Value> {
    let out = ipc_bench(args);
    assert!(out.status.success(), "{}", show(args, &out));
    let records: Value = serde_json::from_slice(&out.stdout).expect("one JSON list");
    records
        .as_array()
        .unwrap_or_else(|| panic!("not a list:{}", show(args, &out)))
        .iter()
        .map(|r| (r[key].as_str().unwrap_or_default().to_string(), r.clone()))
        .collect()
}

#[test]
fn sync_json_records_have_the_documented_fields() {
    let records = records_by(
        &["sync", "--json", "--repeat", "1", "--scale", "0.01"],
        "primitive",
    );
    let find = |name: &str| {
        records
            .get(name)
            .unwrap_or_else(|| panic!("no {name} record: {records:?}"))
    };
    assert!(find("lock")["ns_per_op"].as_f64().unwrap() > 0.0);
    let counter = find("counter");
    assert_eq!(counter["processes"], 2);
    assert!(counter["increments_per_second"].as_f64().unwrap() > 0.0);
    let barrier = find("barrier");
    assert_eq!(barrier["parties"], 2);
    assert!(barrier["us_per_round"].as_f64().unwrap() > 0.0);
    assert!(find("event")["us_per_round_trip"].as_f64().unwrap() > 0.0);
    let table = ipc_bench(&["sync", "--repeat", "1", "--scale", "0.01"]);
    let text = String::from_utf8_lossy(&table.stdout);
    for needle in ["lock", "counter", "barrier", "event"] {
        assert!(text.contains(needle), "missing {needle}: {text}");
    }
}

#[test]
fn pool_json_records_have_the_documented_fields() {
    let records = records_by(
        &["pool", "--json", "--repeat", "1", "--scale", "0.01"],
        "what",
    );
    let find = |name: &str| {
        records
            .get(name)
            .unwrap_or_else(|| panic!("no {name} record: {records:?}"))
    };
    assert!(find("map")["tasks_per_second"].as_f64().unwrap() > 0.0);
    assert_eq!(find("imap_unordered")["chunksize"], 1);
    assert!(find("apply")["us_per_task"].as_f64().unwrap() > 0.0);
    assert_eq!(find("start")["procs"], 8);
    assert!(find("start")["ms"].as_f64().unwrap() > 0.0);
}
