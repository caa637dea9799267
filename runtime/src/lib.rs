//! An event-loop runtime built by hand, one stage per module.
//!
//! | stage | module | idea |
//! |---|---|---|
//! | 1 | [`stage1`] | a loop over `mio::Poll`; a `Slab` of callbacks keyed by `Token` |
//! | 2 | [`stage2`] | a hand-rolled `Future`, a coroutine trait, `Task::step` |
//! | 3 | [`stage3`] | stage 2 plus delegation to sub-coroutines (`yield from`) |
//! | 4 | [`stage4`] | std `Future` + `Waker`: a reactor and an executor |
//! | 5 | [`stage5`] | the toolkit: timers, cancellation, join/select, semaphore, queue, blocking pool |
//!
//! Each stage is a complete snapshot: read one module top to bottom, then diff it against
//! the previous one (`diff -ru runtime/src/stage1 runtime/src/stage2`) to see the one new idea.
#![forbid(unsafe_code)]

pub mod stage1;
pub mod stage2;
pub mod stage3;
pub mod stage4;
pub mod stage5;

use std::io;

/// `EINPROGRESS`, the "error" a non-blocking `connect` returns while the handshake goes on
/// (115 on Linux and Android, 150 on illumos and Solaris, 36 on macOS and the BSDs; Windows
/// says `WouldBlock` instead).
const EINPROGRESS: i32 = if cfg!(any(target_os = "linux", target_os = "android")) {
    115
} else if cfg!(any(target_os = "illumos", target_os = "solaris")) {
    150
} else {
    36
};

/// Whether a non-blocking `connect` returned "in progress" rather than a real error.
///
/// std has no stable `ErrorKind` for it yet, so the number is checked by hand.
pub fn connect_in_progress(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(EINPROGRESS)
}
