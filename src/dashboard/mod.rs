//! The terminal dashboard (`--tui`): one more way to show the monitor's events, beside text and
//! JSON. [`Dashboard`] keeps what the screen shows, from the events alone, and never reads a
//! clock: its time is that of the last event, so the same state draws the same screen live, in
//! a replay and in a test. [`view`] draws it; [`screen`] owns the terminal.

mod screen;
pub mod view;

pub use screen::{needs_terminal, Controls, Playback, Screen};

use crate::metrics::Exposition;

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

use crate::monitor::{
    AlertChange, AlertState, IntervalReport, MonitorConfig, MonitorEvent, Renderer, SecondClosed,
    Show,
};

/// Seconds of traffic the chart shows.
pub const CHART_SECONDS: i64 = 600;

/// Alerts kept in the history.
pub const HISTORY_ALERTS: usize = 100;

/// Events waiting for the screen. A live monitor drops what does not fit (the screen is
/// stuck); a replay waits for room, so reading never runs far ahead of the play.
pub const FEED_EVENTS: usize = 4096;

/// What the monitor sends the screen.
#[derive(Debug)]
pub enum Fed {
    /// Something the monitor said.
    Event(MonitorEvent),
    /// A finished log has no more to say.
    End,
}

/// The monitor's side of the way to the screen.
pub struct Feed {
    events: SyncSender<Fed>,
    wait_for_room: bool,
}

/// A feed and the screen's end of it: dropping what does not fit for a live monitor, waiting
/// for room (`wait_for_room`) for a replay.
pub fn feed(wait_for_room: bool) -> (Feed, Receiver<Fed>) {
    let (events, received) = std::sync::mpsc::sync_channel(FEED_EVENTS);
    (
        Feed {
            events,
            wait_for_room,
        },
        received,
    )
}

impl Feed {
    fn send(&mut self, fed: Fed) {
        if self.wait_for_room {
            // The screen gone means the program is stopping: nothing to keep.
            let _ = self.events.send(fed);
        } else if let Err(TrySendError::Full(_)) = self.events.try_send(fed) {
            // Dropped: the screen has not drawn for over an hour's worth of events.
        }
    }
}

impl Show for Feed {
    fn show(&mut self, event: MonitorEvent) {
        self.send(Fed::Event(event));
    }

    fn end(&mut self) {
        self.send(Fed::End);
    }
}

/// An alert that fired, and its recovery once it came.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertSpan {
    /// When it fired.
    pub fired: AlertChange,
    /// When it recovered.
    pub recovered: Option<AlertChange>,
}

/// Lines read and not understood, since the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadTotals {
    /// Lines read.
    pub lines: u64,
    /// Lines that were not access-log records.
    pub parse_errors: u64,
}

/// What the screen shows, kept from the monitor's events.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// Times and sentences as the console writes them.
    pub renderer: Renderer,
    /// The threshold, window and interval.
    pub config: MonitorConfig,
    /// What runs: `monitor`, `demo`, `replay`.
    pub command: &'static str,
    /// The files followed or replayed.
    pub files: Vec<String>,
    /// The last event's time (Unix seconds).
    pub now: Option<i64>,
    /// The last [`CHART_SECONDS`] closed, oldest first; seconds without traffic may be absent.
    pub seconds: VecDeque<SecondClosed>,
    /// Every alert, oldest first (at most [`HISTORY_ALERTS`]).
    pub alerts: VecDeque<AlertSpan>,
    /// The last stats report.
    pub report: Option<IntervalReport>,
    /// Hits and bytes since the start.
    pub hits: u64,
    /// Bytes sent since the start.
    pub bytes: u64,
    /// Lines read and not understood since the start.
    pub read: ReadTotals,
    /// The last thing the program said (a file waited for, a clock jump).
    pub status: Option<String>,
    /// Shown in the title: `paused`, `end of log`.
    pub marker: Option<&'static str>,
    /// Whether the keys are shown.
    pub help: bool,
}

impl Dashboard {
    /// An empty dashboard of `command` over `files`.
    pub fn new(
        command: &'static str,
        config: MonitorConfig,
        renderer: Renderer,
        files: Vec<String>,
    ) -> Dashboard {
        Dashboard {
            renderer,
            config,
            command,
            files,
            now: None,
            seconds: VecDeque::new(),
            alerts: VecDeque::new(),
            report: None,
            hits: 0,
            bytes: 0,
            read: ReadTotals::default(),
            status: None,
            marker: None,
            help: false,
        }
    }

    /// Takes in one event of the monitor's.
    pub fn apply(&mut self, event: &MonitorEvent) {
        let time = event.time();
        self.now = Some(self.now.map_or(time, |now| now.max(time)));
        match event {
            MonitorEvent::Second(second) => {
                self.seconds.push_back(*second);
                let oldest = second.time - CHART_SECONDS;
                while self.seconds.front().is_some_and(|s| s.time <= oldest) {
                    self.seconds.pop_front();
                }
            }
            MonitorEvent::Stats(report) => {
                self.hits += report.hits;
                self.bytes += report.bytes;
                self.report = Some(report.clone());
            }
            MonitorEvent::Alert(change) => match change.state {
                AlertState::Firing => {
                    if self.alerts.len() == HISTORY_ALERTS {
                        self.alerts.pop_front();
                    }
                    self.alerts.push_back(AlertSpan {
                        fired: *change,
                        recovered: None,
                    });
                }
                AlertState::Resolved => {
                    if let Some(last) = self.alerts.back_mut() {
                        last.recovered = Some(*change);
                    }
                }
            },
            MonitorEvent::ClockJump(jump) => {
                // The chart's seconds are of the time before.
                self.seconds.clear();
                self.now = Some(jump.to);
                let mut said = Vec::new();
                let _ = self.renderer.write(event, &mut said);
                self.status = Some(String::from_utf8_lossy(&said).trim_end().to_owned());
            }
        }
    }

    /// The alert's state: the last change, if any.
    pub fn alert(&self) -> Option<&AlertChange> {
        let last = self.alerts.back()?;
        Some(last.recovered.as_ref().unwrap_or(&last.fired))
    }

    /// The average request rate over the alert window at the last second closed.
    pub fn average_rate(&self) -> f64 {
        let window = i64::from(self.config.window_seconds);
        let now = self.now.unwrap_or(i64::MIN);
        // Quiet seconds are not said: a window that went by without one is empty.
        (self.seconds.back())
            .filter(|second| now - second.time <= window)
            .map_or(0.0, |second| second.window_hits as f64 / window as f64)
    }
}

/// Lines read and parse errors so far in `exposition`'s logs.
pub fn read_totals(exposition: &Exposition) -> ReadTotals {
    let (lines, parse_errors) = exposition.lines_and_parse_errors();
    ReadTotals {
        lines,
        parse_errors,
    }
}

#[cfg(test)]
mod tests;
