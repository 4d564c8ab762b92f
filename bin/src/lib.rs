//! The tools built on the `multiproc` runtime: `pi-master` and `ipc-bench`.
//!
//! The binaries (`pi-master.rs`, `ipc-bench.rs`) parse their command lines and dispatch; the
//! work lives here, where the tests reach it too:
//! - [`master`]: the distributed computation of pi over worker processes;
//! - [`report`], [`console`], [`compare`], [`sweep`], [`timeline`]: what `pi-master` shows;
//! - [`bench`](mod@bench): the measurements of `ipc-bench`;
//! - [`plot`], [`output`], [`stats`], [`text`]: pictures, results on stdout, medians, words and
//!   widths, shared by both.
#![deny(unsafe_code)]
#![deny(missing_docs)]

// The message catalogues (`locales/en.toml`, `locales/pt.toml`), read at build time.
rust_i18n::i18n!("locales", fallback = "en");

pub mod bench;
pub mod compare;
pub mod console;
pub mod lang;
pub mod master;
pub mod output;
pub mod plot;
pub mod report;
pub mod stats;
pub mod stderr;
pub mod sweep;
pub mod text;
pub mod timeline;

multiproc::targets!(
    /// Every function the tools' children run: `multiproc::init(&TARGETS)` at the top of
    /// each tool's `main`.
    pub static TARGETS = [..master::TARGETS, ..bench::TARGETS]
);
