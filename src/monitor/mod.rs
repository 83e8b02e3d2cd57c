//! The console monitor: traffic stats per interval and the high-traffic alert.
//!
//! [`Monitor`] never reads a clock. It is told which second each record belongs to
//! ([`Monitor::record`]) and how far time has gone ([`Monitor::advance_to`]), so the same engine
//! runs on the wall clock ([`LiveMonitor`]), on the timestamps of a finished log
//! ([`ReplayMonitor`]), and in tests, second by second.
//!
//! **The alert.** At every whole second `T` the monitor looks at the `window` seconds before it,
//! `[T - window, T)`. When their average request rate is above `threshold` (hits >
//! threshold × window) it fires, once, "triggered at T"; when it is back at or below the
//! threshold it resolves, once, "recovered at T". Seconds before the monitor started count as
//! seconds without traffic.
//!
//! **The stats.** Intervals are aligned to multiples of `interval` seconds since the epoch
//! (10:00:00, 10:00:10, …); the first one starts when the monitor does.

mod console;
mod drivers;
mod render;
mod stats;

pub use console::{Console, CONSOLE_QUEUE_REPORTS};
pub use drivers::{LiveMonitor, Rendered, ReplayMonitor, Show};
pub use render::{human_bytes, human_seconds, shorten, OutputFormat, Renderer};
pub use stats::{IntervalReport, IntervalStats};

use std::collections::{BTreeMap, VecDeque};

use crate::parse::Record;

/// What the monitor watches for and reports.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    /// Length of a stats interval, in seconds.
    pub interval_seconds: u32,
    /// Length of the alert window, in seconds.
    pub window_seconds: u32,
    /// Average requests per second over the window above which the alert fires.
    pub threshold: f64,
    /// How many sections and clients a stats report lists.
    pub top: usize,
    /// Distinct sections counted apart within one interval.
    pub max_sections: usize,
}

/// Whether the high-traffic alert is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    /// The average rate went above the threshold.
    Firing,
    /// The average rate came back to the threshold or below.
    Resolved,
}

/// A change of the alert's state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertChange {
    /// The new state.
    pub state: AlertState,
    /// Hits in the window when it changed.
    pub hits: u64,
    /// Average requests per second over the window when it changed.
    pub rate: f64,
    /// The second at which it changed (Unix seconds).
    pub time: i64,
}

/// The clock the monitor runs on, which can jump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The log's timestamps (`replay`).
    Log,
    /// The system's wall clock (a followed log).
    System,
}

/// The clock the monitor runs on went from one time to another without the time between
/// passing: the alert window starts again, empty, at `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockJump {
    /// Which clock.
    pub clock: Clock,
    /// The time it was at (Unix seconds).
    pub from: i64,
    /// The time it went to.
    pub to: i64,
}

/// A second closed, said only by a monitor asked to ([`Monitor::saying_seconds`]): what a
/// chart of the rate draws. Seconds passed over without traffic are not said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondClosed {
    /// The second (Unix seconds).
    pub time: i64,
    /// Its hits.
    pub hits: u64,
    /// Hits in the alert window that ends with it.
    pub window_hits: u64,
}

/// What the monitor has to say.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorEvent {
    /// An interval ended.
    Stats(IntervalReport),
    /// The alert changed state.
    Alert(AlertChange),
    /// The clock jumped.
    ClockJump(ClockJump),
    /// A second closed.
    Second(SecondClosed),
}

impl MonitorEvent {
    /// The time the event is at: when what it says became known.
    pub fn time(&self) -> i64 {
        match self {
            MonitorEvent::Stats(report) => report.end,
            MonitorEvent::Alert(change) => change.time,
            MonitorEvent::ClockJump(jump) => jump.to,
            MonitorEvent::Second(second) => second.time + 1,
        }
    }
}

/// The alert window and the open stats intervals, advanced by a clock it is given.
#[derive(Debug)]
pub struct Monitor {
    config: MonitorConfig,
    /// Every second before this one is closed: its hits are in the window and its stats in a
    /// report or the current interval.
    clock: i64,
    /// Hits of the last `window` closed seconds, oldest first.
    window: VecDeque<u64>,
    window_hits: u64,
    firing: bool,
    /// Hits of seconds not closed yet, but those of `latest_second`.
    open_seconds: BTreeMap<i64, u64>,
    /// Stats of intervals not reported yet, by aligned start, but those of `latest_interval`.
    open_intervals: BTreeMap<i64, IntervalStats>,
    /// The second last counted in, and its hits, kept out of `open_seconds` until another
    /// second is counted or time advances: lines come nearly in order, so most count here
    /// without a search of the map.
    latest_second: Option<(i64, u64)>,
    /// The interval last counted in, kept out of `open_intervals` in the same way.
    latest_interval: Option<(i64, IntervalStats)>,
    started: i64,
    say_seconds: bool,
}

impl Monitor {
    /// A monitor whose first second is `start` (Unix seconds).
    pub fn new(config: MonitorConfig, start: i64) -> Monitor {
        Monitor {
            window: VecDeque::with_capacity(config.window_seconds as usize + 1),
            config,
            clock: start,
            window_hits: 0,
            firing: false,
            open_seconds: BTreeMap::new(),
            open_intervals: BTreeMap::new(),
            latest_second: None,
            latest_interval: None,
            started: start,
            say_seconds: false,
        }
    }

    /// This monitor, saying every second it closes ([`MonitorEvent::Second`]) if `say`.
    pub fn saying_seconds(mut self, say: bool) -> Monitor {
        self.say_seconds = say;
        self
    }

    /// The first second not closed yet.
    pub fn clock(&self) -> i64 {
        self.clock
    }

    /// Counts `record` as a hit in `second`. A second already closed cannot change any more:
    /// such a hit counts in the first open second instead.
    pub fn record(&mut self, second: i64, record: &Record<'_>) {
        let second = second.max(self.clock);
        match &mut self.latest_second {
            Some((latest, hits)) if *latest == second => *hits += 1,
            _ => {
                self.settle_latest_second();
                self.latest_second = Some((second, 1));
            }
        }
        let interval_start = self.interval_start(second);
        match &mut self.latest_interval {
            Some((latest, stats)) if *latest == interval_start => stats.add(record),
            _ => {
                self.settle_latest_interval();
                let mut stats = self
                    .open_intervals
                    .remove(&interval_start)
                    .unwrap_or_else(|| IntervalStats::new(self.config.max_sections));
                stats.add(record);
                self.latest_interval = Some((interval_start, stats));
            }
        }
    }

    fn settle_latest_second(&mut self) {
        if let Some((second, hits)) = self.latest_second.take() {
            *self.open_seconds.entry(second).or_default() += hits;
        }
    }

    fn settle_latest_interval(&mut self) {
        if let Some((start, stats)) = self.latest_interval.take() {
            self.open_intervals.insert(start, stats);
        }
    }

    /// Closes every second before `now`, reporting each alert change and each interval that
    /// ends, in time order.
    pub fn advance_to(&mut self, now: i64, emit: &mut impl FnMut(MonitorEvent)) {
        let interval = i64::from(self.config.interval_seconds);
        let window = self.config.window_seconds as usize;
        let limit = self.config.threshold * self.config.window_seconds as f64;
        self.settle_latest_second();
        self.settle_latest_interval();
        while self.clock < now {
            if self.window_hits == 0 && !self.firing {
                self.skip_quiet_time(now, emit);
                if self.clock >= now {
                    break;
                }
            }
            let second = self.clock;
            let hits = self.open_seconds.remove(&second).unwrap_or(0);
            self.window.push_back(hits);
            self.window_hits += hits;
            if self.window.len() > window {
                self.window_hits -= self.window.pop_front().unwrap_or(0);
            }
            self.clock = second + 1;
            if self.say_seconds {
                emit(MonitorEvent::Second(SecondClosed {
                    time: second,
                    hits,
                    window_hits: self.window_hits,
                }));
            }

            if self.clock.rem_euclid(interval) == 0 {
                self.report_interval(self.clock, emit);
            }
            let exceeded = self.window_hits as f64 > limit;
            if exceeded != self.firing {
                self.firing = exceeded;
                emit(MonitorEvent::Alert(AlertChange {
                    state: if exceeded {
                        AlertState::Firing
                    } else {
                        AlertState::Resolved
                    },
                    hits: self.window_hits,
                    rate: self.window_hits as f64 / self.config.window_seconds as f64,
                    time: self.clock,
                }));
            }
        }
    }

    /// Moves the clock over seconds without hits up to the next one with hits (or `now`) at
    /// once, where walking them would take time and, for a log whose clock jumped years, memory
    /// without bound. The window holds only empty seconds, so nothing of the alert changes; the
    /// interval under way is reported at its end as usual, and the empty intervals after it in
    /// one report spanning them all.
    fn skip_quiet_time(&mut self, now: i64, emit: &mut impl FnMut(MonitorEvent)) {
        let next_hit = self.open_seconds.keys().next().copied().unwrap_or(i64::MAX);
        let until = now.min(next_hit);
        let interval = i64::from(self.config.interval_seconds);
        let first_end = self.interval_start(self.clock) + interval;
        if until <= first_end {
            // Within the interval under way: the second-by-second walk is short.
            return;
        }
        self.report_interval(first_end, emit);
        let last_end = self.interval_start(until);
        if last_end > first_end {
            emit(MonitorEvent::Stats(IntervalStats::new(0).report(
                first_end,
                last_end,
                self.config.top,
            )));
        }
        self.open_intervals.retain(|&start, _| start >= last_end);
        let window = self.config.window_seconds as usize;
        self.window.clear();
        self.window.resize(window, 0);
        self.clock = until;
    }

    /// Reports the interval under way as if it ended at `end` (the end of a replayed log).
    pub fn finish(&mut self, end: i64, emit: &mut impl FnMut(MonitorEvent)) {
        self.advance_to(end, emit);
        if end.rem_euclid(i64::from(self.config.interval_seconds)) != 0 && end > self.started {
            self.report_interval(end, emit);
        }
    }

    /// Closes every second before `end` and reports the interval under way as ending there,
    /// then starts again at `at`, as new but for the alert: if it was firing, it is still, and
    /// the next second closed says whether the new window keeps it so. For a clock that jumped
    /// from `end` to `at`, either way: the seconds between did not pass.
    pub fn restart(&mut self, end: i64, at: i64, emit: &mut impl FnMut(MonitorEvent)) {
        self.finish(end, emit);
        let firing = self.firing;
        *self = Monitor::new(self.config.clone(), at).saying_seconds(self.say_seconds);
        self.firing = firing;
    }

    /// Reports the interval that ends at `end`.
    fn report_interval(&mut self, end: i64, emit: &mut impl FnMut(MonitorEvent)) {
        let aligned_start = self.interval_start(end - 1);
        let start = aligned_start.max(self.started);
        let stats = self.open_intervals.remove(&aligned_start);
        let report = match &stats {
            Some(stats) => stats.report(start, end, self.config.top),
            None => IntervalStats::new(0).report(start, end, self.config.top),
        };
        emit(MonitorEvent::Stats(report));
    }

    fn interval_start(&self, second: i64) -> i64 {
        let interval = i64::from(self.config.interval_seconds);
        second - second.rem_euclid(interval)
    }
}

#[cfg(test)]
mod tests;
