//! Sharing state between processes: a shared `Value` and `Array`.
//!
//! The parent makes a `Value` (a float) and an `Array` (0 to 9) in shared memory and hands
//! them to a child, which sets the value to 3.1415927 and negates every element. Unlike a
//! plain variable (see `isolation`), the parent sees the child's writes: the memory is the
//! same memory in both processes.
//! `cargo run --example shared_state`

// The narration's language: Portuguese or English, as the environment asks (what the deck
// prints stays as the deck has it).
rust_i18n::i18n!("examples/locales", fallback = "en");
#[path = "common/say.rs"]
mod say;
use rust_i18n::t;

use multiproc::{Array, Process, Value};

// The course's own number, as its Python program writes it (not a lost digit of pi).
#[allow(clippy::approx_constant)]
fn child((num, arr): (Value<f64>, Array<i64>)) -> multiproc::Result<()> {
    num.set(3.1415927)?;
    // Under the array's lock, the whole slice at once.
    arr.with_lock(|values| {
        for v in values.iter_mut() {
            *v = -*v;
        }
    })
}

fn main() -> multiproc::Result<()> {
    say::choose_language();
    multiproc::init!(child);
    let num = Value::new(0.0f64)?;
    let arr = Array::new(&(0..10).collect::<Vec<i64>>())?;
    let mut p = Process::new(child, (num.try_clone()?, arr.try_clone()?));
    p.start()?;
    println!(
        "{}",
        t!(
            "before",
            value = num.get()?,
            array = format!("{:?}", arr.to_vec()?)
        )
    );
    p.join()?;
    println!("{}", t!("parent_reads", pid = p.pid().unwrap_or(0)));
    println!("{}", num.get()?);
    println!("{:?}", arr.to_vec()?);
    Ok(())
}
