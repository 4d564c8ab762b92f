//! Finding, where a table is written, the ways a function can run: a probe carries the
//! function's type and signature to a pair of traits per way, one that holds when the
//! signature allows the way and a fallback that answers "cannot".

use std::marker::PhantomData;

/// Carries a function's type and signature to the traits that say how it can run.
#[doc(hidden)]
pub struct Probe<F, S>(PhantomData<(F, S)>);

/// Implemented by a function for its one signature, so that [`probe`] finds it.
#[doc(hidden)]
pub trait Signature<S> {}
impl<F: Fn(A) -> R, A, R> Signature<fn(A) -> R> for F {}
impl<F: Fn(A, B) -> R, A, B, R> Signature<fn(A, B) -> R> for F {}

#[doc(hidden)]
pub fn probe<F: Signature<S>, S>(_: &F) -> Probe<F, S> {
    Probe(PhantomData)
}

/// Declares the two traits that find one way of running a function: `$way`, which the way's
/// module implements for [`Probe`]s of the signatures that allow it, and `$not`, the fallback
/// every probe has, reached only when `$way` does not hold, which answers `None`.
macro_rules! way_of_running {
    ($(#[$doc:meta])* $way:ident, $not:ident, $method:ident -> $runner:ty) => {
        $(#[$doc])*
        #[doc(hidden)]
        pub trait $way<F> {
            fn $method(&self) -> Option<$runner>;
        }

        /// Any other function.
        #[doc(hidden)]
        pub trait $not<F> {
            fn $method(&self) -> Option<$runner>;
        }

        impl<F, S> $not<F> for &$crate::targets::Probe<F, S> {
            fn $method(&self) -> Option<$runner> {
                None
            }
        }
    };
}
pub(crate) use way_of_running;
