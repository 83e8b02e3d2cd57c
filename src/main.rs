//! The `accesslog-exporter` program: flags → config → the command, and the one line that says
//! why it stopped.

use std::process::ExitCode;

use accesslog_exporter::cli::Cli;
use accesslog_exporter::config::Config;
use accesslog_exporter::{report, run};
use clap::Parser;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            let text = error.to_string();
            let first = text.lines().next().unwrap_or_default();
            report::fatal(first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    let config = match Config::try_from(cli) {
        Ok(config) => config,
        Err(error) => {
            report::fatal(error);
            return ExitCode::from(2);
        }
    };
    match run::run(config) {
        Ok(()) => {
            report::finish();
            ExitCode::SUCCESS
        }
        Err(error) if error.is_closed_stdout() => {
            report::finish();
            ExitCode::SUCCESS
        }
        Err(error) => {
            report::fatal(error);
            ExitCode::FAILURE
        }
    }
}
