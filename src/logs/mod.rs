//! The logs followed: what `--log-file` names (paths and globs, a path with a name of its
//! choosing), the files that match now, and the `log` label value each file's series carry.
//!
//! The label policy, decided here alone ([`LogNames`]): one plain file without a name is a set
//! of one whose series carry no `log` label. Otherwise every file's series are labelled: its
//! name given as `NAME=PATH`, or else its file name without a trailing `.log`
//! (`/var/log/nginx/shop.access.log` → `shop.access`); when that is already another file's,
//! the whole path. A file keeps its value for as long as it is followed.
//!
//! [`LogSet`] follows them all on one thread.

pub mod apache;
pub mod config_file;
pub mod nginx;
mod server_config;
mod set;

pub use server_config::{ConfigError, DeclaredLogs};
pub use set::{LogContext, LogSet, SharedConsole};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::parse::LogFormat;

/// One `--log-file` value, or a log a server's configuration declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSource {
    /// The name given with `NAME=PATH`.
    pub name: Option<String>,
    /// The path, or a glob pattern of paths.
    pub pattern: PathBuf,
    /// Whether `pattern` is a glob (holds `*`, `?` or `[`).
    pub is_glob: bool,
    /// Its lines' format, where it has one of its own (else `--format`).
    pub format: Option<LogFormat>,
    /// Labels on every series of its log (`--config.file`'s `labels:`).
    pub labels: Vec<(String, String)>,
}

impl LogSource {
    /// Reads `[NAME=]PATH`, where PATH may be a glob; NAME is letters, digits, `_`, `-`, `.`
    /// and goes with a single file only.
    pub fn parse(text: &str) -> Result<LogSource, String> {
        let (name, path) = match text.split_once('=') {
            Some((name, path))
                if !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) =>
            {
                (Some(name.to_owned()), path)
            }
            _ => (None, text),
        };
        if path.is_empty() {
            return Err(format!("{text:?}: expected [NAME=]PATH"));
        }
        let is_glob = path.contains(['*', '?', '[']);
        if is_glob {
            if let Err(error) = glob::Pattern::new(path) {
                return Err(format!("{path:?} is not a valid glob: {error}"));
            }
            if name.is_some() {
                return Err(format!(
                    "{text:?}: a name goes with one file, not a glob (files from a glob are \
                     named after themselves)"
                ));
            }
        }
        Ok(LogSource {
            name,
            pattern: PathBuf::from(path),
            is_glob,
            format: None,
            labels: Vec::new(),
        })
    }
}

/// A log that is not a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSource {
    /// Its `log` label where logs are labelled (else [`StreamSource::label`] says).
    pub name: Option<String>,
    /// Where its lines come from.
    pub origin: Origin,
    /// Its lines' format, where it has one of its own (else `--format`).
    pub format: Option<LogFormat>,
    /// Labels on every series of its log (`--config.file`'s `labels:`).
    pub labels: Vec<(String, String)>,
}

/// Where a [`StreamSource`]'s lines come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Standard input (`--log-file -`).
    Stdin,
    /// Syslog messages with this tag (`--syslog.listen-address`).
    Syslog {
        /// The tag: nginx's `tag=`, `logger -t`.
        tag: String,
    },
}

impl StreamSource {
    /// Its `log` label where logs are labelled: its name, or where it comes from.
    pub fn label(&self) -> &str {
        match (&self.name, &self.origin) {
            (Some(name), _) => name,
            (None, Origin::Stdin) => "stdin",
            (None, Origin::Syslog { tag }) => tag,
        }
    }
}

/// A log `--one-shot` reads whole: its label value, the source that names it,
/// and its files: one, or every file a named glob matches.
#[derive(Debug)]
pub struct WholeLog<'s> {
    /// Its `log` label value, if logs are labelled.
    pub name: Option<String>,
    /// The source that names it.
    pub source: &'s LogSource,
    /// Its files, in the order found.
    pub files: Vec<PathBuf>,
}

/// The logs the files at `paths` make: each file a log, but the files of a named glob one.
pub fn whole_logs<'s, 'p>(
    paths: impl IntoIterator<Item = &'p PathBuf>,
    sources: &'s [LogSource],
    names: &mut LogNames,
) -> Vec<WholeLog<'s>> {
    let mut logs: Vec<WholeLog<'s>> = Vec::new();
    for path in paths {
        let Some(source) = source_of(path, sources) else {
            continue;
        };
        let shared = source.name.as_ref().filter(|_| source.is_glob);
        let joined =
            shared.and_then(|name| (logs.iter_mut()).find(|log| log.name.as_ref() == Some(name)));
        match joined {
            Some(log) => log.files.push(path.clone()),
            None => logs.push(WholeLog {
                name: shared.cloned().or_else(|| names.name(path, sources)),
                source,
                files: vec![path.clone()],
            }),
        }
    }
    logs
}

/// The first source naming the file at `path`.
pub fn source_of<'s>(path: &Path, sources: &'s [LogSource]) -> Option<&'s LogSource> {
    sources.iter().find(|source| source.names(path))
}

/// The format of the file at `path`: that of the first source naming it that has one.
pub fn format_of<'s>(path: &Path, sources: &'s [LogSource]) -> Option<&'s LogFormat> {
    sources
        .iter()
        .filter(|source| source.names(path))
        .find_map(|source| source.format.as_ref())
}

impl LogSource {
    /// Whether this source names the file at `path`.
    fn names(&self, path: &Path) -> bool {
        if !self.is_glob {
            return self.pattern == path;
        }
        let options = glob::MatchOptions::new();
        (self.pattern.to_str())
            .and_then(|pattern| glob::Pattern::new(pattern).ok())
            .is_some_and(|pattern| pattern.matches_path_with(path, options))
    }
}

/// Whether `sources` are one plain file: it is followed alone, and its series carry a `log`
/// label only if it is named.
pub fn is_one_file(sources: &[LogSource]) -> bool {
    matches!(sources, [source] if !source.is_glob)
}

/// Whether `sources` are one plain file without a name: its series carry no `log` label.
pub fn is_single_unnamed(sources: &[LogSource]) -> bool {
    matches!(sources, [source] if !source.is_glob && source.name.is_none())
}

/// Every path `sources` name now, in order and without repeats: plain paths whether or not
/// they exist (they are waited for), and the regular files each glob matches, sorted.
pub fn matching_paths(sources: &[LogSource]) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for source in sources {
        if !source.is_glob {
            paths.push(source.pattern.clone());
            continue;
        }
        let Some(pattern) = source.pattern.to_str() else {
            continue;
        };
        let Ok(matches) = glob::glob(pattern) else {
            continue;
        };
        let mut found: Vec<PathBuf> = matches
            .filter_map(Result::ok)
            .filter(|path| path.is_file())
            .collect();
        found.sort();
        paths.extend(found);
    }
    let mut seen = std::collections::HashSet::new();
    paths.retain(|path| seen.insert(path.clone()));
    paths
}

/// The `log` label values handed out to the files followed, kept unique.
#[derive(Debug)]
pub struct LogNames {
    labelled: bool,
    by_path: HashMap<PathBuf, String>,
    // The names of the logs that are not files.
    reserved: Vec<String>,
}

impl LogNames {
    /// The names of the files followed: none at all unless `labelled`
    /// ([`crate::config::InputConfig::labelled`]).
    pub fn new(labelled: bool) -> LogNames {
        LogNames {
            labelled,
            by_path: HashMap::new(),
            reserved: Vec::new(),
        }
    }

    /// Keeps `names` (the logs' that are not one file: streams, named globs) from the files:
    /// a file that would take one is named by its path.
    pub fn reserving(mut self, names: Vec<String>) -> LogNames {
        self.reserved = names;
        self
    }

    /// The label value of `path`: the one it already has, a new one, or none if the logs are
    /// not labelled.
    pub fn name(&mut self, path: &Path, sources: &[LogSource]) -> Option<String> {
        if !self.labelled {
            return None;
        }
        if let Some(name) = self.by_path.get(path) {
            return Some(name.clone());
        }
        let given = sources
            .iter()
            .find(|source| !source.is_glob && source.pattern == path)
            .and_then(|source| source.name.clone());
        let name = given.unwrap_or_else(|| derived_name(path));
        let name = if self
            .by_path
            .values()
            .chain(&self.reserved)
            .any(|taken| *taken == name)
        {
            path.display().to_string()
        } else {
            name
        };
        self.by_path.insert(path.to_owned(), name.clone());
        Some(name)
    }

    /// Forgets `path`: it is no longer followed, and its value may be given again.
    pub fn release(&mut self, path: &Path) {
        self.by_path.remove(path);
    }
}

/// A file's name without a trailing `.log`.
pub(crate) fn derived_name(path: &Path) -> String {
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    match file_name.strip_suffix(".log") {
        Some(stem) if !stem.is_empty() => stem.to_owned(),
        _ => file_name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(values: &[&str]) -> Vec<LogSource> {
        values
            .iter()
            .map(|v| LogSource::parse(v).unwrap())
            .collect()
    }

    #[test]
    fn sources_are_paths_globs_or_named_paths() {
        let parsed = LogSource::parse("shop=/var/log/nginx/shop.log").unwrap();
        assert_eq!(parsed.name.as_deref(), Some("shop"));
        assert_eq!(parsed.pattern, Path::new("/var/log/nginx/shop.log"));
        assert!(!parsed.is_glob);
        let parsed = LogSource::parse("/var/log/nginx/*.access.log").unwrap();
        assert!(parsed.is_glob && parsed.name.is_none());
        // An `=` that does not follow a name is part of the path.
        let parsed = LogSource::parse("/srv/a=b/access.log").unwrap();
        assert_eq!(
            (parsed.name, parsed.pattern),
            (None, PathBuf::from("/srv/a=b/access.log"))
        );
        for (bad, expected) in [
            ("", "expected [NAME=]PATH"),
            ("shop=", "expected [NAME=]PATH"),
            ("x=/var/log/*.log", "a name goes with one file"),
            ("/var/log/[.log", "not a valid glob"),
        ] {
            let error = LogSource::parse(bad).unwrap_err();
            assert!(error.contains(expected), "{bad}: {error}");
        }
        assert!(is_single_unnamed(&sources(&["/var/log/access.log"])));
        assert!(!is_single_unnamed(&sources(&["a=/var/log/access.log"])));
        assert!(!is_single_unnamed(&sources(&["/var/log/*.log"])));
        assert!(!is_single_unnamed(&sources(&["/a.log", "/b.log"])));
    }

    #[test]
    fn names_come_from_the_flag_or_the_file_and_stay_unique() {
        let given = sources(&[
            "shop=/srv/a/access.log",
            "/srv/b/access.log",
            "/srv/c/access.log",
        ]);
        let mut names = LogNames::new(!is_single_unnamed(&given));
        let mut name = |path: &str| names.name(Path::new(path), &given).unwrap();
        assert_eq!(name("/srv/a/access.log"), "shop");
        assert_eq!(name("/srv/b/access.log"), "access");
        assert_eq!(name("/srv/c/access.log"), "/srv/c/access.log");
        assert_eq!(name("/srv/b/access.log"), "access");
        assert_eq!(name("/x/api.access.log"), "api.access");
        assert_eq!(name("/x/access_log"), "access_log");
        assert_eq!(name("/x/.log"), ".log");
        names.release(Path::new("/srv/b/access.log"));
        assert_eq!(
            names.name(Path::new("/srv/d/access.log"), &given).unwrap(),
            "access"
        );

        let one = sources(&["/var/log/access.log"]);
        let mut names = LogNames::new(!is_single_unnamed(&one));
        assert_eq!(names.name(Path::new("/var/log/access.log"), &one), None);
    }

    #[test]
    fn globs_match_regular_files_in_order_once() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.log", "a.log", "c.txt"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("d.log")).unwrap();
        let glob = format!("{}/*.log", dir.path().display());
        let plain = dir.path().join("a.log");
        let missing = dir.path().join("later.log");
        let found = matching_paths(&sources(&[
            &glob,
            plain.to_str().unwrap(),
            missing.to_str().unwrap(),
        ]));
        assert_eq!(
            found,
            [dir.path().join("a.log"), dir.path().join("b.log"), missing]
        );
    }
}
