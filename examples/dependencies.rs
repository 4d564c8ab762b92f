//! OUTRO EXEMPLO — a=2; b=3; p=a+b; q=a*b; r=q-p, each line its own process.
//!
//! L1 ‖ L2, then L3 ‖ L4, then L5: a task starts at once and waits (in `recv`) for exactly the
//! values it needs, which arrive over pipes from the tasks that compute them.
//! `cargo run --example dependencies`

// The narration's language: Portuguese or English, as the environment asks (what the deck
// prints stays as the deck has it).
rust_i18n::i18n!("examples/locales", fallback = "en");
#[path = "common/say.rs"]
mod say;
use rust_i18n::t;

use multiproc::{Connection, Process, pipe_oneway};
use serde::{Deserialize, Serialize};

/// One task: the inputs it waits for, and where its result goes.
#[derive(Serialize, Deserialize)]
struct Task {
    line: String,
    inputs: Vec<Connection>,
    outputs: Vec<Connection>,
}

fn run(task: Task, compute: fn(&[i64]) -> i64) -> Result<(), multiproc::Error> {
    let mut values = Vec::new();
    for mut input in task.inputs {
        values.push(input.recv::<i64>()?);
    }
    let value = compute(&values);
    println!(
        "{} = {value}   {}",
        task.line,
        t!(
            "from",
            pid = std::process::id(),
            values = format!("{values:?}")
        )
    );
    for mut output in task.outputs {
        output.send(&value)?;
    }
    Ok(())
}

fn l1(t: Task) -> Result<(), multiproc::Error> {
    run(t, |_| 2)
}
fn l2(t: Task) -> Result<(), multiproc::Error> {
    run(t, |_| 3)
}
fn l3(t: Task) -> Result<(), multiproc::Error> {
    run(t, |v| v[0] + v[1])
}
fn l4(t: Task) -> Result<(), multiproc::Error> {
    run(t, |v| v[0] * v[1])
}
fn l5(t: Task) -> Result<(), multiproc::Error> {
    run(t, |v| v[1] - v[0])
}

fn main() -> Result<(), multiproc::Error> {
    say::choose_language();
    multiproc::init!(l1, l2, l3, l4, l5);
    // One pipe per dependency: (receiving end, sending end).
    let (a_to_p, a_for_p) = pipe_oneway()?;
    let (a_to_q, a_for_q) = pipe_oneway()?;
    let (b_to_p, b_for_p) = pipe_oneway()?;
    let (b_to_q, b_for_q) = pipe_oneway()?;
    let (p_to_r, p_for_r) = pipe_oneway()?;
    let (q_to_r, q_for_r) = pipe_oneway()?;
    let task = |line: &str, inputs, outputs| Task {
        line: line.to_string(),
        inputs,
        outputs,
    };
    let mut tasks = vec![
        Process::new(l5, task("r = q - p", vec![p_to_r, q_to_r], vec![])),
        Process::new(l3, task("p = a + b", vec![a_to_p, b_to_p], vec![p_for_r])),
        Process::new(l4, task("q = a * b", vec![a_to_q, b_to_q], vec![q_for_r])),
        Process::new(l1, task("a", vec![], vec![a_for_p, a_for_q])),
        Process::new(l2, task("b", vec![], vec![b_for_p, b_for_q])),
    ];
    // Started in reverse order on purpose: each waits for its inputs, whatever the order.
    for t in &mut tasks {
        t.start()?;
    }
    for t in &mut tasks {
        t.join()?;
    }
    Ok(())
}
