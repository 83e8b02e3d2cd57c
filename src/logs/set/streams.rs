//! The logs of a [`super::LogSet`] that are not files, each read on a thread of its own into
//! the same pipeline a file's lines go through: stdin, and the tags of syslog messages.

use std::collections::HashMap;
use std::io;

use prometheus::IntCounterVec;

use super::{LogContext, LogIngest};
use crate::ingest::{Ingest, LogRecorder};
use crate::logs::{Origin, StreamSource};
use crate::metrics::{ExporterMetrics, Exposition, RequestRecorder};
use crate::report;
use crate::syslog::{self, message, Bound, Messages};
use crate::tail::{self, TailEvent, TailSink};

/// The syslog receiver's thread, and what stops it.
pub struct SyslogThread {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl SyslogThread {
    /// Stops receiving, and waits for it.
    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// Starts reading stdin if it is a source, and receiving syslog on `syslog` if it is bound.
/// Stdin's thread is not waited for at stop: a read from it cannot be interrupted, and it
/// holds nothing to save.
pub fn start(context: &LogContext, syslog: Option<Bound>) -> io::Result<Option<SyslogThread>> {
    let pipelines = PipelineContext::of(context);
    for stream in &context.input.streams {
        if stream.origin == Origin::Stdin {
            let (ingest, metrics) = pipelines.pipeline(stream)?;
            let max_line_bytes = context.input.parse.max_line_bytes;
            std::thread::Builder::new()
                .name("stdin".into())
                .spawn(move || read_stdin(ingest, &metrics, max_line_bytes))?;
        }
    }
    let Some(bound) = syslog else {
        return Ok(None);
    };
    let mut tags = SyslogLogs {
        by_tag: HashMap::new(),
        known: HashMap::new(),
        errors: context
            .exposition
            .syslog_errors(&[
                message::Malformed::Priority.reason(),
                message::Malformed::Header.reason(),
                "too_long",
                "tags",
            ])
            .map_err(io::Error::other)?,
        context: pipelines,
        tags_said: false,
    };
    for stream in &context.input.streams {
        if let Origin::Syslog { tag } = &stream.origin {
            tags.known.insert(tag.clone(), stream.clone());
            // Known tags' series are there before their first message.
            tags.log(tag.as_bytes());
        }
    }
    let max_message_bytes = context.input.parse.max_line_bytes;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let thread = std::thread::Builder::new()
        .name("syslog".into())
        .spawn(move || {
            runtime.block_on(syslog::receive(bound, tags, max_message_bytes, async {
                let _ = stopped.await;
            }));
        })?;
    Ok(Some(SyslogThread { stop, thread }))
}

/// What a stream's pipeline is built with, taken from the [`LogContext`].
struct PipelineContext {
    exposition: Exposition,
    console: Option<super::SharedConsole>,
    format: crate::parse::LogFormat,
    limits: crate::metrics::SeriesLimits,
    labelled: bool,
}

impl PipelineContext {
    fn of(context: &LogContext) -> PipelineContext {
        PipelineContext {
            exposition: context.exposition.clone(),
            console: context.console.clone(),
            format: context.input.parse.format.clone(),
            limits: context.input.parse.limits,
            labelled: context.input.labelled(),
        }
    }

    /// A stream's pipeline, into metrics under its label where logs are labelled.
    fn pipeline(&self, stream: &StreamSource) -> io::Result<(LogIngest, ExporterMetrics)> {
        let name = self.labelled.then(|| stream.label());
        let metrics = (self.exposition)
            .log_with_labels(name, &stream.labels)
            .map_err(io::Error::other)?;
        let format = stream.format.as_ref().unwrap_or(&self.format);
        let ingest = Ingest::served(
            format.clone(),
            metrics.clone(),
            LogRecorder::Own(RequestRecorder::new(metrics.clone(), self.limits)),
            self.console.clone(),
            None,
        );
        Ok((ingest, metrics))
    }
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

/// The logs syslog messages go to, one a tag: those the sources name with their formats, and
/// up to [`syslog::MAX_TAGS`] in all, others with `--format`.
struct SyslogLogs {
    // `None` for a tag whose name a file's log has.
    by_tag: HashMap<Box<[u8]>, Option<LogIngest>>,
    known: HashMap<String, StreamSource>,
    errors: IntCounterVec,
    context: PipelineContext,
    tags_said: bool,
}

impl SyslogLogs {
    /// The pipeline of `tag`, started if it is new and there is room; `None` counts the
    /// message as an error.
    fn log(&mut self, tag: &[u8]) -> Option<&mut LogIngest> {
        if !self.by_tag.contains_key(tag) {
            if self.by_tag.len() >= syslog::MAX_TAGS {
                if !self.tags_said {
                    self.tags_said = true;
                    report::warning(format_args!(
                        "syslog: more than {} tags; messages with others are counted as \
                         accesslog_syslog_errors_total{{reason=\"tags\"}}",
                        syslog::MAX_TAGS
                    ));
                }
                return None;
            }
            // Tags are printable ASCII (message::parse checks).
            let text = String::from_utf8_lossy(tag).into_owned();
            let stream = match self.known.get(&text) {
                Some(known) => known.clone(),
                None => StreamSource {
                    name: None,
                    origin: Origin::Syslog { tag: text.clone() },
                    format: None,
                    labels: Vec::new(),
                },
            };
            let ingest = match self.context.pipeline(&stream) {
                Ok((ingest, _)) => Some(ingest),
                Err(_) => {
                    report::warning(format_args!(
                        "syslog tag {text}: a file's log already has the name {:?}; its \
                         messages are counted as accesslog_syslog_errors_total{{reason=\"tags\"}}",
                        stream.label()
                    ));
                    None
                }
            };
            self.by_tag.insert(tag.into(), ingest);
        }
        self.by_tag.get_mut(tag)?.as_mut()
    }
}

impl Messages for SyslogLogs {
    fn message(&mut self, bytes: &[u8]) {
        match message::parse(bytes) {
            Ok(message) => match self.log(message.tag) {
                Some(ingest) => {
                    ingest.event(TailEvent::BytesRead(bytes.len() as u64));
                    ingest.line(message.text);
                }
                None => self.errors.with_label_values(&["tags"]).inc(),
            },
            Err(malformed) => self.errors.with_label_values(&[malformed.reason()]).inc(),
        }
    }

    fn dropped(&mut self, reason: &'static str) {
        self.errors.with_label_values(&[reason]).inc();
    }

    fn polled(&mut self) {
        for ingest in self.by_tag.values_mut().flatten() {
            ingest.polled();
        }
    }
}
