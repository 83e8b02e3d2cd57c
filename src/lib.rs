//! accesslog-exporter: follows an HTTP access log and turns every line into Prometheus metrics.
//!
//! # Layout
//! - [`parse`]: access-log lines (`&[u8]`) to borrowed records; pure, no I/O, no allocation.
//! - [`tail`]: follows a log file across rotation and truncation, yielding lines as bytes.
//! - [`metrics`]: the Prometheus registry, the bounded section table and per-series handles.
//! - [`labels`]: the bounded label values (methods, overflow, invalid) metrics and monitor share.
//! - [`logs`]: the logs `--log-file` names (paths, globs, names), each one's `log` label, and
//!   following them all ([`logs::LogSet`]).
//! - [`ingest`]: the pipeline from lines to records to metrics, and its reports to the user.
//! - [`monitor`]: the console monitor: stats per interval and the high-traffic alert.
//! - [`web`]: the HTTP server for `/metrics` and the landing page.
//! - [`generate`]: synthetic traffic for demos, tests and benchmarks.
//! - [`cli`]: command-line flags, validated into a [`cli::Config`].
//!
//! Data flows one way: bytes → record → (metrics, monitor). `main.rs` wires these together.
#![deny(missing_docs)]

pub mod checkpoint;
pub mod cli;
pub mod config;
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
pub mod tail;
pub mod web;
