//! The logs of a [`super::LogSet`] that are not files: each read on a thread of its own into
//! the same pipeline a file's lines go through.

use std::io;

use super::{LogContext, LogIngest};
use crate::ingest::Ingest;
use crate::logs::{Origin, StreamSource};
use crate::metrics::ExporterMetrics;
use crate::report;
use crate::tail;

/// Starts reading every stream source of `context`. Stdin's thread is not waited for at
/// stop: a read from it cannot be interrupted, and it holds nothing to save.
pub fn start(context: &LogContext) -> io::Result<()> {
    for stream in &context.input.streams {
        let (ingest, metrics) = pipeline(context, stream)?;
        match stream.origin {
            Origin::Stdin => {
                let max_line_bytes = context.input.parse.max_line_bytes;
                std::thread::Builder::new()
                    .name("stdin".into())
                    .spawn(move || read_stdin(ingest, &metrics, max_line_bytes))?;
            }
        }
    }
    Ok(())
}

/// A stream's pipeline, into metrics under its label where logs are labelled.
fn pipeline(
    context: &LogContext,
    stream: &StreamSource,
) -> io::Result<(LogIngest, ExporterMetrics)> {
    let input = &context.input;
    let name = input.labelled().then(|| stream.label());
    let metrics = context.exposition.log(name).map_err(io::Error::other)?;
    let format = stream.format.as_ref().unwrap_or(&input.parse.format);
    let ingest = Ingest::served(
        format.clone(),
        metrics.clone(),
        input.parse.limits,
        context.console.clone(),
        None,
    );
    Ok((ingest, metrics))
}

fn read_stdin(mut ingest: LogIngest, metrics: &ExporterMetrics, max_line_bytes: usize) {
    metrics.set_file_open(true);
    report::info("reading stdin");
    let ended = tail::read_stream(io::stdin().lock(), max_line_bytes, &mut ingest);
    metrics.set_file_open(false);
    match ended {
        Ok(()) => report::info("stdin ended; what it held stays counted and served"),
        Err(error) => report::warning(format_args!(
            "stdin: {error}; what it held stays counted and served"
        )),
    }
}
