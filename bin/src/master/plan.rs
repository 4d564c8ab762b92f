//! The plan of a run: the configuration checked once, and the work cut once, for every mode.
//!
//! Pipe mode gives worker `i` the `i`-th range of [`partition::partition`]; queue mode cuts
//! the same blocks into chunks that workers take as they become free. Either way the ranges
//! are whole blocks and together cover `[0, steps)` exactly once.

use std::ops::Range;

use multiproc_pi::input::MAX_PROCS;
use multiproc_pi::partition::{self, MAX_STEPS};

use super::{Config, Ipc, RunError};

/// The most chunks queue mode cuts the work into: far more than any number of workers can
/// use, and few enough that the plan takes a few megabytes at most.
pub const MAX_CHUNKS: u64 = 1_000_000;

/// The chunks queue mode uses by default: four per worker, so a fast worker can take more.
pub fn default_chunks(procs: usize) -> u64 {
    4 * procs as u64
}

/// A checked configuration and its ranges: pipe mode gives worker `i` the `i`-th range,
/// queue mode hands the ranges out as chunks.
#[derive(Clone, Debug)]
pub struct Plan {
    config: Config,
    ranges: Vec<Range<u64>>,
}

impl Plan {
    /// Checks `config` and cuts the work: one range per worker in pipe mode, the chunks (as
    /// many as asked for, or [`default_chunks`], at most one per block) in queue mode.
    pub fn new(config: &Config) -> Result<Plan, RunError> {
        if config.procs == 0 || config.procs as u64 > MAX_PROCS {
            return Err(RunError::Invalid(
                rust_i18n::t!("plan.procs", max = MAX_PROCS, n = config.procs).into_owned(),
            ));
        }
        if !(1..=MAX_STEPS).contains(&config.steps) {
            return Err(RunError::Invalid(
                rust_i18n::t!("plan.steps", max = MAX_STEPS, n = config.steps).into_owned(),
            ));
        }
        let mut config = config.clone();
        let ranges = match config.ipc {
            Ipc::Pipe | Ipc::Shm | Ipc::ShmChannel | Ipc::Mpi => {
                partition::partition(config.steps, config.procs)
            }
            Ipc::Queue | Ipc::Pool => {
                let asked = config.chunks.unwrap_or(default_chunks(config.procs));
                if asked == 0 || asked > MAX_CHUNKS {
                    return Err(RunError::Invalid(
                        rust_i18n::t!("plan.chunks", max = MAX_CHUNKS, n = asked).into_owned(),
                    ));
                }
                let chunks = asked.min(partition::block_count(config.steps));
                config.chunks = Some(chunks);
                partition::partition(config.steps, chunks as usize)
            }
        };
        Ok(Plan { config, ranges })
    }

    /// The configuration, with queue mode's chunk count as used.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The ranges handed out: one per worker in pipe mode, the chunks in queue mode.
    pub fn ranges(&self) -> &[Range<u64>] {
        &self.ranges
    }

    /// How many indices each worker will compute, when that is known in advance (pipe and
    /// shm modes); `None` when workers take chunks as they go (queue mode).
    pub fn per_worker(&self) -> Option<Vec<u64>> {
        matches!(
            self.config.ipc,
            Ipc::Pipe | Ipc::Shm | Ipc::ShmChannel | Ipc::Mpi
        )
        .then(|| self.ranges.iter().map(|r| r.end - r.start).collect())
    }
}
