//! `std::sync::mpsc` with std's signatures, validated: a `send` on a full bounded channel and a
//! `recv` on an empty channel are waits (recorded before they block); every send signals
//! "message available" and every receive "space available". A thread that blocks on a channel
//! while holding a lock the other side needs is reported; a producer and a consumer handing
//! off through a bounded channel are not (a channel is never full and empty at once).

use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

use lockdep_core::ObjKind;

use crate::hooks::{self, Ev, Meta, SigCell, Site};

/// The channel's identity for the validator, shared by its ends.
#[derive(Debug)]
struct Chan {
    site: Site,
    meta: Meta,
    /// The fast path's words for `avail` and `space` (see `fast`).
    cells: [SigCell; 2],
}

impl Chan {
    fn new(site: Site) -> Chan {
        Chan {
            site,
            meta: Meta::new(),
            cells: [SigCell::new(), SigCell::new()],
        }
    }

    fn ev(&self) -> Ev<'_> {
        Ev {
            obj: self.meta.get(self.site, ObjKind::Channel),
            class: self.site,
            cells: &self.cells,
        }
    }
}

/// `std::sync::mpsc::channel`: an unbounded channel (a send never blocks).
#[track_caller]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(Site::caller()));
    let (tx, rx) = std::sync::mpsc::channel();
    (
        Sender {
            inner: tx,
            chan: chan.clone(),
        },
        Receiver { inner: rx, chan },
    )
}

/// `std::sync::mpsc::sync_channel`: bounded (`0` = rendezvous).
#[track_caller]
pub fn sync_channel<T>(bound: usize) -> (SyncSender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(Site::caller()));
    let (tx, rx) = std::sync::mpsc::sync_channel(bound);
    (
        SyncSender {
            inner: tx,
            chan: chan.clone(),
        },
        Receiver { inner: rx, chan },
    )
}

/// Sending end of an unbounded channel.
#[derive(Debug)]
pub struct Sender<T> {
    inner: std::sync::mpsc::Sender<T>,
    chan: Arc<Chan>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            inner: self.inner.clone(),
            chan: self.chan.clone(),
        }
    }
}

impl<T> Sender<T> {
    /// Sends (never blocks).
    #[track_caller]
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        hooks::send(self.chan.ev(), false, false, Location::caller());
        self.inner.send(t)
    }
}

/// Sending end of a bounded channel.
#[derive(Debug)]
pub struct SyncSender<T> {
    inner: std::sync::mpsc::SyncSender<T>,
    chan: Arc<Chan>,
}

impl<T> Clone for SyncSender<T> {
    fn clone(&self) -> Self {
        SyncSender {
            inner: self.inner.clone(),
            chan: self.chan.clone(),
        }
    }
}

impl<T> SyncSender<T> {
    /// Sends, blocking while the channel is full (a wait, validated before it blocks).
    #[track_caller]
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        let site = Location::caller();
        match self.inner.try_send(t) {
            Ok(()) => {
                hooks::send(self.chan.ev(), false, false, site);
                Ok(())
            }
            Err(TrySendError::Full(t)) => {
                hooks::send(self.chan.ev(), true, false, site);
                self.inner.send(t)
            }
            Err(TrySendError::Disconnected(t)) => Err(SendError(t)),
        }
    }

    /// Sends without blocking.
    #[track_caller]
    pub fn try_send(&self, t: T) -> Result<(), TrySendError<T>> {
        let r = self.inner.try_send(t);
        if r.is_ok() {
            hooks::send(self.chan.ev(), false, false, Location::caller());
        }
        r
    }
}

/// Receiving end of a channel.
#[derive(Debug)]
pub struct Receiver<T> {
    inner: std::sync::mpsc::Receiver<T>,
    chan: Arc<Chan>,
}

impl<T> Receiver<T> {
    /// Receives, blocking while the channel is empty (a wait, validated before it blocks).
    #[track_caller]
    pub fn recv(&self) -> Result<T, RecvError> {
        let site = Location::caller();
        match self.inner.try_recv() {
            Ok(t) => {
                hooks::recv(self.chan.ev(), false, false, site);
                Ok(t)
            }
            Err(TryRecvError::Empty) => {
                hooks::recv(self.chan.ev(), true, false, site);
                self.inner.recv()
            }
            Err(TryRecvError::Disconnected) => Err(RecvError),
        }
    }

    /// Receives without blocking.
    #[track_caller]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let r = self.inner.try_recv();
        if r.is_ok() {
            hooks::recv(self.chan.ev(), false, false, Location::caller());
        }
        r
    }

    /// Receives, blocking at most `timeout` (a timed wait: cycles through it are warnings).
    #[track_caller]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let site = Location::caller();
        match self.inner.try_recv() {
            Ok(t) => {
                hooks::recv(self.chan.ev(), false, true, site);
                Ok(t)
            }
            Err(TryRecvError::Empty) => {
                hooks::recv(self.chan.ev(), true, true, site);
                self.inner.recv_timeout(timeout)
            }
            Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
        }
    }

    /// Blocking iterator over received messages.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// Non-blocking iterator over messages already there.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }
}

/// Blocking iterator ([`Receiver::iter`]).
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// Non-blocking iterator ([`Receiver::try_iter`]).
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// Owning blocking iterator.
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
