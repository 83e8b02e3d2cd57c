//! The open connections: what each is doing, the deadline for writing an answer, and which one
//! makes room when a new connection finds every slot taken.
//!
//! A slot is a descriptor, a request buffer of at most [`REQUEST_BUFFER_BYTES`] and at most one
//! answer being written. A connection that is answering a request keeps its slot. The others
//! make room, the one that has done nothing for longest first: idle (between requests, or not
//! done sending its first), or stalled (its answer not taken by a client that does not read).
//! A new connection is refused, with a 503, only when every slot is answering.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntCounterVec, IntGauge};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::AbortHandle;
use tokio::time::Sleep;

use crate::metrics::{Exposition, RegistrationError};

/// How long an answer may take, from its request read to its last byte written.
pub const RESPONSE_DEADLINE: Duration = Duration::from_secs(30);
/// The most a client's request line and headers may take; more is answered 431.
pub const REQUEST_BUFFER_BYTES: usize = 16 * 1024;

/// Why a connection was closed to make room for a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// It was between requests, or had not sent its request yet.
    Idle,
    /// Its answer could not be written: the client was not reading.
    Stalled,
}

impl Eviction {
    fn label(self) -> &'static str {
        match self {
            Eviction::Idle => "idle",
            Eviction::Stalled => "stalled",
        }
    }
}

/// Where a connection was when its deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The TLS handshake.
    Handshake,
    /// Reading the request line and headers.
    Request,
    /// Writing the answer.
    Response,
}

impl Phase {
    const ALL: [Phase; 3] = [Phase::Handshake, Phase::Request, Phase::Response];

    fn label(self) -> &'static str {
        match self {
            Phase::Handshake => "handshake",
            Phase::Request => "request",
            Phase::Response => "response",
        }
    }
}

/// The connections open, at most `cap`, and the counts of what happened to them.
#[derive(Clone)]
pub struct Connections {
    table: Arc<Mutex<Table>>,
    cap: usize,
    epoch: Instant,
    open: IntGauge,
    refused: IntCounter,
    evicted: IntCounterVec,
    timed_out: IntCounterVec,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    open: HashMap<u64, Entry>,
}

struct Entry {
    activity: Arc<Activity>,
    task: Option<AbortHandle>,
}

/// What the new connection got.
pub enum Admission {
    /// A slot, given back when the [`Slot`] is dropped.
    Slot(Slot),
    /// Every slot is answering a request.
    Refused,
}

impl Connections {
    /// At most `cap` connections at once, counted in `exposition`.
    pub fn new(exposition: &Exposition, cap: usize) -> Result<Connections, RegistrationError> {
        let evicted = exposition.connections_evicted()?;
        for eviction in [Eviction::Idle, Eviction::Stalled] {
            evicted.with_label_values(&[eviction.label()]);
        }
        let timed_out = exposition.connections_timed_out()?;
        for phase in Phase::ALL {
            timed_out.with_label_values(&[phase.label()]);
        }
        Ok(Connections {
            table: Arc::default(),
            cap,
            epoch: Instant::now(),
            open: exposition.connections_open()?,
            refused: exposition.connections_refused()?,
            evicted,
            timed_out,
        })
    }

    /// The most connections open at once.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// A slot for a new connection, made by closing an idle or stalled one if none is free.
    pub fn admit(&self) -> Admission {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if table.open.len() >= self.cap {
            // A connection whose task is not named yet cannot be closed.
            let candidates = (table.open.iter())
                .filter(|(_, entry)| entry.task.is_some())
                .map(|(&id, entry)| (id, &*entry.activity));
            let Some((id, eviction)) = victim(candidates) else {
                self.refused.inc();
                return Admission::Refused;
            };
            if let Some(entry) = table.open.remove(&id) {
                if let Some(task) = entry.task {
                    task.abort();
                }
            }
            self.evicted.with_label_values(&[eviction.label()]).inc();
        }
        let id = table.next_id;
        table.next_id += 1;
        let activity = Arc::new(Activity::new(self.epoch));
        table.open.insert(
            id,
            Entry {
                activity: Arc::clone(&activity),
                task: None,
            },
        );
        self.open.set(table.open.len() as i64);
        Admission::Slot(Slot {
            connections: self.clone(),
            id,
            activity,
        })
    }

    /// Names the task serving connection `id`, so that it can be closed to make room.
    pub fn serving(&self, id: u64, task: AbortHandle) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        match table.open.get_mut(&id) {
            Some(entry) => entry.task = Some(task),
            // It closed already.
            None => task.abort(),
        }
    }

    /// Counts a connection whose deadline passed in `phase`.
    pub fn timed_out(&self, phase: Phase) {
        self.timed_out.with_label_values(&[phase.label()]).inc();
    }
}

/// The connection to close first: the one that has done nothing for longest, stalled (its
/// answer not taken by the client) or idle after an answer; failing those, the oldest of the
/// ones that have not sent a whole request yet, which a scrape just connected is one of while
/// the server is busy. One answering a request is kept.
fn victim<'a>(candidates: impl Iterator<Item = (u64, &'a Activity)>) -> Option<(u64, Eviction)> {
    candidates
        .filter_map(|(id, activity)| match activity.stuck_since() {
            Some(since) => Some(((false, since, id), id, Eviction::Stalled)),
            None if activity.is_idle() => {
                let since = activity.last_active.load(Ordering::Relaxed);
                Some(((!activity.was_answered(), since, id), id, Eviction::Idle))
            }
            None => None,
        })
        .min_by_key(|&(order, _, _)| order)
        .map(|(_, id, eviction)| (id, eviction))
}

/// A connection's place among the open ones, given back on drop.
pub struct Slot {
    connections: Connections,
    id: u64,
    activity: Arc<Activity>,
}

impl Slot {
    /// Which connection this is, to name its task with [`Connections::serving`].
    pub fn id(&self) -> u64 {
        self.id
    }

    /// What the connection is doing, for its stream and its requests to tell.
    pub fn activity(&self) -> Arc<Activity> {
        Arc::clone(&self.activity)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self
            .connections
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        table.open.remove(&self.id);
        self.connections.open.set(table.open.len() as i64);
    }
}

/// What one connection is doing, in microseconds since the server's epoch (0: not at all).
pub struct Activity {
    epoch: Instant,
    /// The last time bytes came in or went out, or the connection opened.
    last_active: AtomicU64,
    /// Requests being answered (more than one only when pipelined).
    answering: AtomicU64,
    /// When the latest request was read.
    request_read: AtomicU64,
    /// Since when a write has been waiting for the client to read.
    write_waiting: AtomicU64,
}

impl Activity {
    fn new(epoch: Instant) -> Activity {
        let activity = Activity {
            epoch,
            last_active: AtomicU64::new(0),
            answering: AtomicU64::new(0),
            request_read: AtomicU64::new(0),
            write_waiting: AtomicU64::new(0),
        };
        activity
            .last_active
            .store(activity.now(), Ordering::Relaxed);
        activity
    }

    fn now(&self) -> u64 {
        // Never 0, which means "not at all".
        self.epoch.elapsed().as_micros() as u64 + 1
    }

    fn is_idle(&self) -> bool {
        self.answering.load(Ordering::Relaxed) == 0
            && self.write_waiting.load(Ordering::Relaxed) == 0
    }

    /// Whether a request of this connection was ever read.
    fn was_answered(&self) -> bool {
        self.request_read.load(Ordering::Relaxed) != 0
    }

    fn stuck_since(&self) -> Option<u64> {
        match self.write_waiting.load(Ordering::Relaxed) {
            0 => None,
            since => Some(since),
        }
    }

    /// Marks a request read; the connection is answering until the guard is dropped.
    pub fn answering(self: &Arc<Self>) -> Answering {
        let now = self.now();
        self.request_read.store(now, Ordering::Relaxed);
        self.last_active.store(now, Ordering::Relaxed);
        self.answering.fetch_add(1, Ordering::Relaxed);
        Answering(Arc::clone(self))
    }
}

/// A request being answered, from its headers read until its answer is handed to be written.
pub struct Answering(Arc<Activity>);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.answering.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's stream, telling its [`Activity`] what it does and failing a write that is
/// still waiting [`RESPONSE_DEADLINE`] after the request it answers was read.
pub struct Tracked<S> {
    stream: S,
    activity: Arc<Activity>,
    connections: Connections,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<S> Tracked<S> {
    /// `stream`, reporting to the connection's `slot`.
    pub fn new(stream: S, slot: &Slot) -> Tracked<S> {
        Tracked {
            stream,
            activity: slot.activity(),
            connections: slot.connections.clone(),
            deadline: None,
        }
    }

    fn wrote<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let activity = &self.activity;
        let Poll::Pending = result else {
            activity.write_waiting.store(0, Ordering::Relaxed);
            activity
                .last_active
                .store(activity.now(), Ordering::Relaxed);
            self.deadline = None;
            return result;
        };
        let now = activity.now();
        let waiting = match activity.write_waiting.load(Ordering::Relaxed) {
            0 => {
                activity.write_waiting.store(now, Ordering::Relaxed);
                now
            }
            since => since,
        };
        let started = match activity.request_read.load(Ordering::Relaxed) {
            0 => waiting,
            read => read,
        };
        let deadline = activity.epoch + Duration::from_micros(started - 1) + RESPONSE_DEADLINE;
        let deadline = tokio::time::Instant::from_std(deadline);
        let sleep = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        if sleep.as_mut().poll(cx).is_ready() {
            self.connections.timed_out(Phase::Response);
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the answer was not read in time",
            )));
        }
        Poll::Pending
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            let activity = &self.activity;
            activity
                .last_active
                .store(activity.now(), Ordering::Relaxed);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.wrote(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.wrote(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    // A socket's flush and shutdown do not wait on the client: only writes tell whether it
    // reads.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a connection did: last active at `at` µs, in one of the states below since then.
    #[derive(Clone, Copy)]
    enum Doing {
        Answering,
        Stalled,
        IdleAfterAnswer,
        NoRequestYet,
    }

    fn activity(epoch: Instant, at: u64, doing: Doing) -> Activity {
        let activity = Activity::new(epoch);
        activity.last_active.store(at, Ordering::Relaxed);
        match doing {
            Doing::Answering => {
                activity.answering.store(1, Ordering::Relaxed);
                activity.request_read.store(at, Ordering::Relaxed);
            }
            Doing::Stalled => {
                activity.write_waiting.store(at, Ordering::Relaxed);
                activity.request_read.store(at, Ordering::Relaxed);
            }
            Doing::IdleAfterAnswer => activity.request_read.store(at, Ordering::Relaxed),
            Doing::NoRequestYet => {}
        }
        activity
    }

    fn first_to_go(epoch: Instant, open: &[(u64, Doing)]) -> Option<(u64, Eviction)> {
        let open: Vec<_> = (open.iter())
            .map(|&(at, doing)| (at, activity(epoch, at, doing)))
            .collect();
        victim(open.iter().map(|(at, activity)| (*at, activity)))
    }

    #[test]
    fn the_connection_that_did_nothing_for_longest_goes_first_and_an_answering_one_never() {
        use Doing::*;
        let epoch = Instant::now();
        // Connections are named by the time they were last active.
        let open = [
            (10, Answering),
            (15, NoRequestYet),
            (30, IdleAfterAnswer),
            (20, Stalled),
            (40, IdleAfterAnswer),
        ];
        assert_eq!(first_to_go(epoch, &open), Some((20, Eviction::Stalled)));
        let without_stalled = [open[0], open[1], open[2], open[4]];
        assert_eq!(
            first_to_go(epoch, &without_stalled),
            Some((30, Eviction::Idle))
        );
        let not_sent_yet = [open[0], open[1], (5, NoRequestYet)];
        assert_eq!(first_to_go(epoch, &not_sent_yet), Some((5, Eviction::Idle)));
        assert_eq!(first_to_go(epoch, &open[..1]), None);
    }
}
