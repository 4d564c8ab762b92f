//! The macros that write a table: [`targets!`](crate::targets!) and [`init!`](crate::init!),
//! and the hidden ones they expand to. Exported at the crate's root.

/// Declares a static table of the functions children of this program may run.
///
/// `targets!(pub static NAME = [f, g, other_crate::h, ..other_crate::TARGETS]);` lists
/// functions by path (a generic one with its types: `square::<u64>`) and includes other
/// tables with `..`. Give the table to [`crate::init()`] at the top of `main`, or include it in
/// the program's [`init!`](crate::init!). See [the module](mod@crate::targets).
#[macro_export]
macro_rules! targets {
    ($(#[$meta:meta])* $vis:vis static $name:ident = [$($listed:tt)*]) => {
        $(#[$meta])*
        $vis static $name: $crate::targets::Targets = $crate::__targets_list!([] [] $($listed)*);
    };
}

/// The table's entries and includes, taken one at a time from the list.
#[doc(hidden)]
#[macro_export]
macro_rules! __targets_list {
    ([$($f:path,)*] [$($t:path,)*]) => {
        $crate::targets::Targets::__new(&[$($crate::__target!($f)),*], &[$(&$t),*])
    };
    ([$($f:tt)*] [$($t:tt)*] .. $table:path $(, $($rest:tt)*)?) => {
        $crate::__targets_list!([$($f)*] [$($t)* $table,] $($($rest)*)?)
    };
    ([$($f:tt)*] [$($t:tt)*] $function:path $(, $($rest:tt)*)?) => {
        $crate::__targets_list!([$($f)* $function,] [$($t)*] $($($rest)*)?)
    };
}

/// One entry: how to run the function in each way its signature allows. Which ways it allows
/// is decided where the table is written, where the function's type is known: a way whose
/// bounds do not hold is left empty (the `Not…` traits, reached only when the first fails).
#[doc(hidden)]
#[macro_export]
macro_rules! __target {
    ($f:path) => {
        $crate::targets::Target {
            name: || $crate::targets::name_of(&$f),
            item: || $crate::targets::item_of(&$f),
            ways: || $crate::targets::Ways {
                process: $crate::__way!($f, process_runner).is_some(),
                map: $crate::__way!($f, map_runner).is_some(),
                try_map: $crate::__way!($f, try_map_runner).is_some(),
                pair: $crate::__way!($f, pair_runner).is_some(),
            },
            process: |args| $crate::__way!($f, process_runner).map(|run| run($f, args)),
            map: |args| $crate::__way!($f, map_runner).map(|run| run($f, args)),
            try_map: |args| $crate::__way!($f, try_map_runner).map(|run| run($f, args)),
            pair: |args| $crate::__way!($f, pair_runner).map(|run| run($f, args)),
        }
    };
}

/// The runner of one way for `$f` (its method names it), or `None` when its signature does
/// not allow that way: the probe's method resolves to the way's trait when it holds, else to
/// its fallback.
#[doc(hidden)]
#[macro_export]
macro_rules! __way {
    ($f:path, $method:ident) => {{
        #[allow(unused_imports)]
        use $crate::pool::__shapes::{
            MapShape as _, NotMapShape as _, NotPairShape as _, NotTryMapShape as _,
            PairShape as _, TryMapShape as _,
        };
        #[allow(unused_imports)]
        use $crate::targets::{NotProcessShape as _, ProcessShape as _};
        (&$crate::targets::probe(&$f)).$method()
    }};
}

/// Declares the program's table of targets and calls [`crate::init()`] with it: the first
/// line of `main`. `multiproc::init!(worker, square, ..some_lib::TARGETS)`; with nothing
/// listed, `multiproc::init!()`. See [the module](mod@crate::targets).
#[macro_export]
macro_rules! init {
    ($($listed:tt)*) => {{
        $crate::targets!(static __MULTIPROC_PROGRAM_TARGETS = [$($listed)*]);
        $crate::init(&__MULTIPROC_PROGRAM_TARGETS)
    }};
}
