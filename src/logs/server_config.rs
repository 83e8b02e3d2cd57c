//! What the readers of web servers' configurations share (`--nginx.config`,
//! `--apache.config`): where a configuration error is, the files a configuration is read
//! from and includes, and how the logs it declares are named.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{LogSource, StreamSource};

/// Includes within includes deeper than this are taken for a loop.
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// The most bytes of configuration read, all files together.
pub const MAX_CONFIG_BYTES: usize = 64 << 20;

/// A configuration that cannot be read: the file, where in it, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or `-` for standard input.
    pub file: PathBuf,
    /// Line, from 1; 0 when the file as a whole is at fault.
    pub line: usize,
    /// Column, from 1, in characters.
    pub column: usize,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.file.display(), self.problem),
            line => write!(
                f,
                "{}:{line}:{}: {}",
                self.file.display(),
                self.column,
                self.problem
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

pub fn read_file(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|error| format!("cannot read it: {error}"))?;
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(format!("larger than {MAX_CONFIG_BYTES} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())
}

/// Where the configuration's files come from.
pub enum Files {
    /// The main file read, the others read from disk as they are included.
    Disk {
        main: (PathBuf, String),
        read: usize,
    },
    /// Every file as a dump of the configuration printed it (`nginx -T`), the main one first.
    Dump(Vec<(PathBuf, String)>),
}

impl Files {
    pub fn main(&self) -> (PathBuf, String) {
        match self {
            Files::Disk { main, .. } => main.clone(),
            Files::Dump(files) => files[0].clone(),
        }
    }

    /// The files `pattern` names (a path or a glob, relative to `base`), in order.
    pub fn include(
        &mut self,
        pattern: &str,
        base: &Path,
    ) -> Result<Vec<(PathBuf, String)>, String> {
        let pattern = base.join(pattern);
        let text = pattern.to_string_lossy().into_owned();
        let is_glob = text.contains(['*', '?', '[']);
        match self {
            Files::Dump(files) => {
                let glob = glob::Pattern::new(&text).map_err(|error| error.to_string())?;
                let found: Vec<_> = (files.iter())
                    .filter(|(path, _)| {
                        if is_glob {
                            glob.matches_path(path)
                        } else {
                            *path == pattern
                        }
                    })
                    .cloned()
                    .collect();
                if found.is_empty() && !is_glob {
                    return Err("not in the configuration dump".into());
                }
                Ok(found)
            }
            Files::Disk { read, .. } => {
                let paths = if is_glob {
                    let mut paths: Vec<PathBuf> = glob::glob(&text)
                        .map_err(|error| error.to_string())?
                        .filter_map(Result::ok)
                        .filter(|path| path.is_file())
                        .collect();
                    paths.sort();
                    paths
                } else {
                    vec![pattern]
                };
                let mut files = Vec::new();
                for path in paths {
                    let text = read_file(&path)
                        .map_err(|problem| format!("{}: {problem}", path.display()))?;
                    *read += text.len();
                    if *read > MAX_CONFIG_BYTES {
                        return Err(format!(
                            "more than {MAX_CONFIG_BYTES} bytes of configuration"
                        ));
                    }
                    files.push((path, text));
                }
                Ok(files)
            }
        }
    }
}

/// The `log` label values of the logs a configuration declares: a file log of a server (an
/// nginx `server`, an Apache `<VirtualHost>`) takes the server's name if it is the server's
/// first; any other takes its file name without `.log`, as `--log-file` names files; a value
/// taken already, the whole path.
#[derive(Debug, Default)]
pub struct DeclaredNames {
    files_of_server: HashMap<usize, usize>,
    taken: HashSet<String>,
}

impl DeclaredNames {
    /// The name of the file log at `path`, declared in `server` (its index and usable name)
    /// or outside any.
    pub fn name(&mut self, server: Option<(usize, Option<&str>)>, path: &Path) -> String {
        let server_name = server.and_then(|(index, name)| {
            let files = self.files_of_server.entry(index).or_default();
            *files += 1;
            name.filter(|_| *files == 1)
        });
        let mut name = server_name.map_or_else(|| super::derived_name(path), str::to_owned);
        if self.taken.contains(&name) {
            name = super::derived_name(path);
        }
        if self.taken.contains(&name) {
            name = path.display().to_string();
        }
        self.taken.insert(name.clone());
        name
    }
}

/// A directive: its name (lower-cased for httpd, whose names are not case-sensitive), its
/// arguments, its block (an nginx `{…}`, an httpd section) if it has one, and where it is
/// written.
#[derive(Debug, Clone)]
pub struct Directive {
    pub name: String,
    pub args: Vec<String>,
    pub block: Option<Vec<Directive>>,
    pub file: Arc<PathBuf>,
    pub line: usize,
}

impl Directive {
    /// `FILE:LINE`, for what is said about it.
    pub fn at(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// What a server's configuration declares: the logs it can follow, and one line for each thing
/// it cannot, to be said at start.
#[derive(Debug, Default)]
pub struct DeclaredLogs {
    /// The file logs, named, each with its format.
    pub sources: Vec<LogSource>,
    /// The logs sent to syslog, by tag, each with its format and where it is declared.
    pub syslog: Vec<(StreamSource, String)>,
    /// What was skipped, and why.
    pub notes: Vec<String>,
}
