//! The one place that talks to the user: every line the program writes to stderr goes through
//! here, prefixed with the program's name, so that each message is one whole line and the
//! modules below report what happened without knowing where it is shown.

use std::fmt::Display;

/// The prefix of every line, as in `rg: PATH: message`.
const PROGRAM: &str = "accesslog-exporter";

/// Something the user may want to know: `accesslog-exporter: MESSAGE`.
pub fn info(message: impl Display) {
    line(format_args!("{PROGRAM}: {message}"));
}

/// Something that went wrong but not fatally: `accesslog-exporter: warning: MESSAGE`.
pub fn warning(message: impl Display) {
    line(format_args!("{PROGRAM}: warning: {message}"));
}

/// Why the program stopped: `accesslog-exporter: MESSAGE`, its last line.
pub fn fatal(message: impl Display) {
    line(format_args!("{PROGRAM}: {message}"));
}

fn line(text: std::fmt::Arguments<'_>) {
    // Formatted first and written at once, so that lines from several threads never
    // interleave (and through `eprint!`, which tests capture).
    let text = format!("{text}\n");
    eprint!("{text}");
}
