//! Backtraces of new dependencies: captured when an op records one (return addresses only,
//! a stack walk), symbolized only when a report that shows them is printed.
//!
//! `LOCKDEP_BACKTRACE=0` (or `off`) turns capturing off; it is on by default, since it costs
//! only on the first recording of each dependency (see BENCHMARKS.md).

use std::sync::atomic::{AtomicU8, Ordering};

/// At most this many frames are kept (innermost first).
const MAX_FRAMES: usize = 48;

/// 0 unknown, 1 off, 2 on.
static ENABLED: AtomicU8 = AtomicU8::new(0);

/// Whether backtraces are captured (`LOCKDEP_BACKTRACE`, read once).
pub(crate) fn enabled() -> bool {
    match ENABLED.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let on = !matches!(
                std::env::var("LOCKDEP_BACKTRACE").as_deref(),
                Ok("0") | Ok("off") | Ok("false")
            );
            ENABLED.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
    }
}

/// A captured stack: return addresses, innermost first.
#[derive(Clone, Debug)]
pub(crate) struct Stack(Box<[usize]>);

impl Stack {
    /// The calling thread's stack, unsymbolized.
    pub(crate) fn capture() -> Stack {
        let mut ips = Vec::with_capacity(MAX_FRAMES);
        backtrace::trace(|f| {
            ips.push(f.ip().addr());
            ips.len() < MAX_FRAMES
        });
        Stack(ips.into_boxed_slice())
    }

    /// The frames as `function at file:line`, innermost first, from the caller of the
    /// validator's entry point (its own frames, and the standard library's between them, are
    /// dropped from the top) down to the runtime's start-up frames (dropped too).
    pub(crate) fn symbolize(&self) -> Vec<String> {
        let mut frames: Vec<(String, String)> = Vec::new();
        for (i, &ip) in self.0.iter().enumerate() {
            // A return address points after the call: look up the call itself.
            let addr = if i == 0 { ip } else { ip.saturating_sub(1) };
            let before = frames.len();
            backtrace::resolve(addr as *mut std::ffi::c_void, |s| {
                let name = s
                    .name()
                    .map_or_else(|| format!("{addr:#x}"), |n| format!("{n:#}"));
                let at = match (s.filename(), s.lineno()) {
                    (Some(f), Some(l)) => format!(" at {}:{l}", f.display()),
                    _ => String::new(),
                };
                frames.push((name, at));
            });
            if frames.len() == before {
                frames.push((format!("{addr:#x}"), String::new()));
            }
        }
        let first_user = frames
            .iter()
            .position(|(name, _)| !is_own(name) && !is_std(name))
            .unwrap_or(frames.len());
        frames[first_user..]
            .iter()
            .take_while(|(name, _)| !is_start(name))
            .map(|(name, at)| format!("{name}{at}"))
            .collect()
    }
}

/// The standard library's frames (closures, iterators, `Option` helpers) that sit between
/// the validator's own frames.
fn is_std(name: &str) -> bool {
    [
        "core::", "alloc::", "std::", "<core::", "<alloc::", "<std::",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// Frames of the validator (and of the capture itself), dropped from the top.
fn is_own(name: &str) -> bool {
    [
        "backtrace::backtrace::",
        "lockdep::",
        "lockdep_core::",
        "<lockdep::",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// Where a thread's own code starts: nothing below it is shown.
fn is_start(name: &str) -> bool {
    name.contains("__rust_begin_short_backtrace") || name.starts_with("std::rt::lang_start")
}
