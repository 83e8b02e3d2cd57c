//! The monitor on a clock: the wall clock for a live log, the log's own timestamps for replay.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Console, Monitor, MonitorConfig, MonitorEvent, Renderer};
use crate::ingest::RecordConsumer;
use crate::parse::Record;

fn wall_clock_second() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The monitor on a followed log: hits count in the second they are read, and time moves
/// with the wall clock, so the alert recovers even if no line ever comes again. Its reports go
/// to a [`Console`], whole, and never wait for the terminal.
pub struct LiveMonitor {
    monitor: Monitor,
    renderer: Renderer,
    console: Console,
}

impl LiveMonitor {
    /// Starts monitoring now, writing to `console`.
    pub fn new(config: MonitorConfig, renderer: Renderer, console: Console) -> LiveMonitor {
        LiveMonitor {
            monitor: Monitor::new(config, wall_clock_second()),
            renderer,
            console,
        }
    }
}

impl RecordConsumer for LiveMonitor {
    fn record(&mut self, record: &Record<'_>) {
        self.monitor.record(wall_clock_second(), record);
    }

    fn tick(&mut self) {
        let (renderer, console) = (&self.renderer, &self.console);
        self.monitor.advance_to(wall_clock_second(), &mut |event| {
            let mut report = Vec::new();
            // Writing to a Vec cannot fail.
            let _ = renderer.write(&event, &mut report);
            console.send(report);
        });
    }
}

/// The monitor over a finished log, on the log's timestamps.
///
/// Servers log a request when it ends, some with the time it began, so lines come slightly
/// out of order. A second is closed only once a line `tolerance` seconds newer has been read;
/// a line older than that counts in the oldest second still open. Runs of intervals without
/// traffic are reported as one.
pub struct ReplayMonitor<W: Write> {
    config: MonitorConfig,
    monitor: Option<Monitor>,
    renderer: Renderer,
    out: W,
    tolerance: i64,
    newest: i64,
    quiet_span: Option<MonitorEvent>,
}

impl<W: Write> ReplayMonitor<W> {
    /// A replay writing to `out`, placing lines up to `tolerance_seconds` late by their time.
    pub fn new(
        config: MonitorConfig,
        renderer: Renderer,
        out: W,
        tolerance_seconds: u32,
    ) -> ReplayMonitor<W> {
        ReplayMonitor {
            config,
            monitor: None,
            renderer,
            out,
            tolerance: i64::from(tolerance_seconds),
            newest: i64::MIN,
            quiet_span: None,
        }
    }

    /// Reports what the end of the log closes: every second up to the last line's, and the
    /// interval under way. Returns the output for inspection.
    pub fn finish(mut self) -> W {
        if let Some(mut monitor) = self.monitor.take() {
            let mut events = Vec::new();
            monitor.finish(self.newest + 1, &mut |event| events.push(event));
            self.emit_all(events);
        }
        if let Some(quiet) = self.quiet_span.take() {
            let _ = self.renderer.write(&quiet, &mut self.out);
        }
        self.out
    }

    fn emit_all(&mut self, events: Vec<MonitorEvent>) {
        for event in events {
            match (&event, &mut self.quiet_span) {
                (MonitorEvent::Stats(report), Some(MonitorEvent::Stats(quiet)))
                    if report.hits == 0 =>
                {
                    quiet.end = report.end;
                }
                (MonitorEvent::Stats(report), None) if report.hits == 0 => {
                    self.quiet_span = Some(event)
                }
                _ => {
                    if let Some(quiet) = self.quiet_span.take() {
                        let _ = self.renderer.write(&quiet, &mut self.out);
                    }
                    let _ = self.renderer.write(&event, &mut self.out);
                }
            }
        }
    }
}

impl<W: Write> RecordConsumer for ReplayMonitor<W> {
    fn record(&mut self, record: &Record<'_>) {
        let second = record.timestamp.unix_seconds;
        let config = &self.config;
        let monitor = self
            .monitor
            .get_or_insert_with(|| Monitor::new(config.clone(), second));
        monitor.record(second, record);
        if second > self.newest {
            self.newest = second;
            let mut events = Vec::new();
            monitor.advance_to(second - self.tolerance, &mut |event| events.push(event));
            self.emit_all(events);
        }
    }
}
