//! accesslog-exporter: follows HTTP access logs and turns every line into Prometheus metrics.
//!
//! # Layout
//! From the bytes of a log to what the user sees, each layer using only those above it:
//! - [`parse`]: access-log lines (`&[u8]`) to borrowed records; pure, no I/O, no allocation.
//! - [`tail`]: following files across rotation and truncation ([`tail::Tailer`]), yielding lines
//!   as bytes; file identity and fingerprints; one watcher for many directories; positions.
//! - [`labels`]: the bounded label values (methods, overflow, invalid) metrics and monitor share.
//! - [`metrics`]: every log's counts (bounded sections, statuses, series) and the exposition.
//! - [`monitor`]: the console monitor: stats per interval, the high-traffic alert, and the
//!   console's own writer.
//! - [`dashboard`]: the monitor's events on a full-screen terminal dashboard (`--tui`).
//! - [`ingest`]: the pipeline from lines to records to metrics (and the monitor).
//! - [`logs`]: the logs `--log-file` names (paths, globs, names), the `log` label policy, and
//!   following them all on one thread ([`logs::LogSet`]).
//! - [`checkpoint`]: the read positions marked at each scrape and saved between runs.
//! - [`web`]: the HTTP server for `/metrics` and the landing page.
//! - [`generate`]: synthetic traffic for demos, tests and benchmarks.
//! - [`backfill`]: finished logs sampled on log time, as OpenMetrics for promtool.
//! - [`config`]: what each command runs with, every value checked.
//! - [`syslog`]: access logs received over syslog: messages, framing, the listener.
//! - [`report`]: every line written to stderr; [`shutdown`]: the one stop signal.
//! - [`run`]: one entry point per command, building the pipeline from a [`config::Config`].
//! - [`cli`]: command-line flags, validated into a [`config::Config`]; nothing else reads it.
//!
//! Data flows one way: bytes → record → (metrics, monitor). `main.rs` parses the flags, calls
//! [`run::run`] and prints the one line an error displays as.
#![deny(missing_docs)]

pub mod backfill;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod generate;
pub mod ingest;
pub mod labels;
pub mod logs;
pub mod metrics;
pub mod monitor;
pub mod parse;
pub mod report;
pub mod run;
pub mod shutdown;
pub mod syslog;
pub mod tail;
pub mod web;
