//! The logs an Apache httpd configuration declares (`--apache.config`): every `CustomLog` and
//! `TransferLog`, each read with its own format.
//!
//! The configuration is read as httpd reads it: a directive a line (`\` joins lines), words
//! grouped by quotes, sections (`<VirtualHost>`, `<IfModule>`, …) nested, `Include` and
//! `IncludeOptional` followed where they are written (globs and directories, relative to
//! `ServerRoot`, by default the main file's directory), `${VAR}` from `Define`, the
//! environment, and Debian's `envvars` beside the main file (its exported variables, others
//! taken as empty: `APACHE_LOG_DIR=/var/log/apache2$SUFFIX` is `/var/log/apache2`).
//!
//! Which logs are in effect follows httpd: a `<VirtualHost>` with logs of its own writes to
//! those, one without to the main server's (so its lines count in theirs). Formats are `LogFormat` nicknames, or given inline;
//! `TransferLog` uses the last `LogFormat` without a nickname, else Common Log Format. Every
//! section is read whatever its condition (`<IfModule>`, `<IfDefine>`): the modules loaded
//! are not known. Naming is as for nginx ([`super::nginx`]), a virtual host's name being its
//! `ServerName` without a port.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::server_config::{
    ConfigError, DeclaredLogs, DeclaredNames, Directive, Files, MAX_INCLUDE_DEPTH,
};
use super::LogSource;
use crate::parse::{Dialect, LogFormat, Template};

/// httpd's default format, for a `TransferLog` with no `LogFormat` without a nickname.
const COMMON: &str = "%h %l %u %t \"%r\" %>s %b";

/// Reads the configuration at `path` and what it declares.
pub fn read(path: &Path) -> Result<DeclaredLogs, ConfigError> {
    let text = super::server_config::read_file(path).map_err(|problem| ConfigError {
        file: path.to_owned(),
        line: 0,
        column: 0,
        problem,
    })?;
    let root = path.parent().map(Path::to_owned).unwrap_or_default();
    let mut variables: HashMap<String, String> = envvars(&root.join("envvars"));
    variables.extend(std::env::vars());
    let mut reader = Reader {
        files: Files::Disk {
            main: (path.to_owned(), text.clone()),
            read: 0,
        },
        root,
        variables,
        notes: Vec::new(),
    };
    let directives = reader.file(path.to_owned(), &text, 0)?;
    let mut walk = Walk {
        root: reader.root.clone(),
        formats: HashMap::new(),
        default_format: (COMMON.to_owned(), "httpd's default".to_owned()),
        notes: reader.notes,
        logs: Vec::new(),
        hosts: 0,
    };
    let main = walk.context(&directives, None);
    walk.logs.splice(0..0, main);
    Ok(walk.into_logs())
}

/// The variables Debian's `envvars` exports (`export NAME=VALUE`), with `$NAME` and `${NAME}`
/// of other exported ones expanded and of any other variable taken as empty.
fn envvars(path: &Path) -> HashMap<String, String> {
    let mut variables = HashMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return variables;
    };
    for line in text.lines() {
        let Some((name, value)) = (line.trim().strip_prefix("export "))
            .and_then(|assignment| assignment.trim().split_once('='))
        else {
            continue;
        };
        let value = value.trim_matches(['"', '\'']);
        let expanded = expand_shell(value, &variables);
        variables.insert(name.trim().to_owned(), expanded);
    }
    variables
}

fn expand_shell(value: &str, variables: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(dollar) = rest.find('$') {
        out += &rest[..dollar];
        let after = &rest[dollar + 1..];
        let (name, tail) = match after.strip_prefix('{') {
            Some(braced) => match braced.find('}') {
                Some(end) => (&braced[..end], &braced[end + 1..]),
                None => (braced, ""),
            },
            None => {
                let end = (after.bytes())
                    .position(|b| !(b.is_ascii_alphanumeric() || b == b'_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        out += variables.get(name).map_or("", String::as_str);
        rest = tail;
    }
    out + rest
}

/// One logical line: its words, and where it starts.
struct Line {
    words: Vec<String>,
    line: usize,
    column: usize,
}

/// The logical lines of `text`: `\` at a line's end joins the next, `#` starting a line makes
/// it a comment, words are split at spaces, grouped by `"` or `'` (with `\"` or `\'` inside
/// unescaped).
fn lines(text: &str, file: &Path) -> Result<Vec<Line>, ConfigError> {
    let mut lines = Vec::new();
    let mut pending: Option<(String, usize, usize)> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let (joined, start, column) = match pending.take() {
            Some((mut joined, start, column)) => {
                joined.push(' ');
                joined += raw.trim_start();
                (joined, start, column)
            }
            None => {
                let trimmed = raw.trim_start();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                let column = raw.len() - trimmed.len() + 1;
                (trimmed.to_owned(), number, column)
            }
        };
        if let Some(continued) = joined.strip_suffix('\\') {
            pending = Some((continued.to_owned(), start, column));
            continue;
        }
        let words = split_words(&joined).map_err(|problem| ConfigError {
            file: file.to_owned(),
            line: start,
            column,
            problem,
        })?;
        lines.push(Line {
            words,
            line: start,
            column,
        });
    }
    if let Some((_, start, column)) = pending {
        return Err(ConfigError {
            file: file.to_owned(),
            line: start,
            column,
            problem: "a line continued with \\ at the end of the file".into(),
        });
    }
    Ok(lines)
}

/// `text` with each `${NAME}` replaced by its value; one not defined is left and said.
fn expand_defines(
    text: &str,
    variables: &HashMap<String, String>,
    mut undefined: impl FnMut(&str),
) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 2..start + end];
        out += &rest[..start];
        match variables.get(name) {
            Some(value) => out += value,
            None => {
                undefined(name);
                out += &rest[start..=start + end];
            }
        }
        rest = &rest[start + end + 1..];
    }
    out + rest
}

/// A line's words, as httpd's `ap_getword_conf` reads them.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' || c == '\'' {
            let quote = c;
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("a {quote} not closed")),
                    Some(c) if c == quote => break,
                    Some('\\') if chars.peek() == Some(&quote) => {
                        word.push(quote);
                        chars.next();
                    }
                    Some(c) => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    Ok(words)
}

/// Reads the directives of a file, sections nested, every include replaced by what it
/// includes.
struct Reader {
    files: Files,
    root: PathBuf,
    variables: HashMap<String, String>,
    notes: Vec<String>,
}

impl Reader {
    fn file(
        &mut self,
        path: PathBuf,
        text: &str,
        depth: usize,
    ) -> Result<Vec<Directive>, ConfigError> {
        let lines = lines(text, &path)?;
        let file = Arc::new(path);
        let mut at = 0;
        self.section(&lines, &mut at, &file, depth, None)
    }

    /// The directives from `lines[*at]` to the end of the section `open` opened (or of the
    /// file).
    fn section(
        &mut self,
        lines: &[Line],
        at: &mut usize,
        file: &Arc<PathBuf>,
        depth: usize,
        open: Option<(&str, &Line)>,
    ) -> Result<Vec<Directive>, ConfigError> {
        let error = |line: &Line, problem: String| ConfigError {
            file: file.to_path_buf(),
            line: line.line,
            column: line.column,
            problem,
        };
        let mut directives = Vec::new();
        while let Some(line) = lines.get(*at) {
            *at += 1;
            // Variables are those defined so far, as httpd reads them.
            let words: Vec<String> = (line.words.iter())
                .map(|word| {
                    expand_defines(word, &self.variables, |name| {
                        self.notes.push(format!(
                            "{}:{}: ${{{name}}} is not defined; left as it is",
                            file.display(),
                            line.line
                        ))
                    })
                })
                .collect();
            let Some((first, args)) = words.split_first() else {
                continue;
            };
            if let Some(closing) = first.strip_prefix("</") {
                let name = closing.trim_end_matches('>').to_ascii_lowercase();
                return match open {
                    Some((opened, _)) if opened == name => Ok(directives),
                    Some((opened, _)) => Err(error(line, format!("</{name}> closes <{opened}>"))),
                    None => Err(error(line, format!("</{name}> without <{name}>"))),
                };
            }
            if let Some(opening) = first.strip_prefix('<') {
                let mut args = args.to_vec();
                let name = match opening.strip_suffix('>') {
                    Some(name) => name.to_owned(),
                    None => {
                        if let Some(last) = args.last_mut() {
                            if let Some(stripped) = last.strip_suffix('>') {
                                *last = stripped.to_owned();
                            }
                        }
                        opening.to_owned()
                    }
                }
                .to_ascii_lowercase();
                let block = self.section(lines, at, file, depth, Some((&name, line)))?;
                directives.push(Directive {
                    name,
                    args,
                    block: Some(block),
                    file: Arc::clone(file),
                    line: line.line,
                });
                continue;
            }
            let name = first.to_ascii_lowercase();
            match name.as_str() {
                "include" | "includeoptional" => {
                    let [pattern] = args else {
                        return Err(error(line, format!("{first} takes one path")));
                    };
                    if depth >= MAX_INCLUDE_DEPTH {
                        return Err(error(line, "includes nested too deep (a loop?)".into()));
                    }
                    let mut pattern = pattern.clone();
                    if self.root.join(&pattern).is_dir() {
                        pattern = format!("{}/*", pattern.trim_end_matches('/'));
                    }
                    let root = self.root.clone();
                    let included = match self.files.include(&pattern, &root) {
                        Ok(included) => included,
                        Err(_) if name == "includeoptional" => Vec::new(),
                        Err(problem) => {
                            return Err(error(line, format!("{first} {pattern}: {problem}")))
                        }
                    };
                    for (path, text) in included {
                        directives.extend(self.file(path, &text, depth + 1)?);
                    }
                }
                "serverroot" | "define" => match (name.as_str(), args) {
                    ("serverroot", [root]) => self.root = PathBuf::from(root),
                    ("define", [variable, value]) => {
                        self.variables.insert(variable.clone(), value.clone());
                    }
                    ("define", [variable]) => {
                        self.variables.insert(variable.clone(), String::new());
                    }
                    _ => return Err(error(line, format!("{first}: unexpected arguments"))),
                },
                _ => directives.push(Directive {
                    name,
                    args: args.to_vec(),
                    block: None,
                    file: Arc::clone(file),
                    line: line.line,
                }),
            }
        }
        match open {
            Some((name, line)) => Err(error(line, format!("<{name}> not closed"))),
            None => Ok(directives),
        }
    }
}

/// A `CustomLog` or `TransferLog` in effect, and where it is declared.
#[derive(Debug, Clone)]
struct CustomLog {
    target: String,
    // The format string, and where it is written.
    format: (String, String),
    // The virtual host it is declared in: its index and name, if it has a usable one.
    host: Option<(usize, Option<String>)>,
    at: String,
}

/// Walks the configuration's server and virtual hosts, collecting the logs in effect in each.
struct Walk {
    root: PathBuf,
    formats: HashMap<String, (String, String)>,
    default_format: (String, String),
    notes: Vec<String>,
    logs: Vec<CustomLog>,
    hosts: usize,
}

impl Walk {
    /// The logs `directives` declare (those of the main server if `host` is `None`), and the
    /// virtual hosts' within them, into `self.logs`.
    fn context(
        &mut self,
        directives: &[Directive],
        host: Option<(usize, Option<String>)>,
    ) -> Vec<CustomLog> {
        let mut own = Vec::new();
        for directive in directives {
            match (directive.name.as_str(), &directive.block) {
                ("logformat", None) => match &directive.args[..] {
                    [format] => self.default_format = (format.clone(), directive.at()),
                    [format, nickname, ..] => {
                        self.formats
                            .insert(nickname.clone(), (format.clone(), directive.at()));
                    }
                    [] => {}
                },
                ("customlog" | "transferlog", None) => {
                    if let Some(log) = self.custom_log(directive, &host) {
                        own.push(log);
                    }
                }
                ("virtualhost", Some(block)) => {
                    self.hosts += 1;
                    let index = self.hosts;
                    let name = server_name(block);
                    // A host without logs of its own writes to the main server's: no other file.
                    let logs = self.context(block, Some((index, name)));
                    self.logs.extend(logs);
                }
                (_, Some(block)) => own.extend(self.context(block, host.clone())),
                _ => {}
            }
        }
        own
    }

    fn custom_log(
        &mut self,
        directive: &Directive,
        host: &Option<(usize, Option<String>)>,
    ) -> Option<CustomLog> {
        let target = directive.args.first()?.clone();
        let format = if directive.name == "transferlog" {
            self.default_format.clone()
        } else {
            let given = directive.args.get(1)?;
            match self.formats.get(given) {
                Some(format) => format.clone(),
                // httpd takes a string that is no nickname for a format.
                None => (given.clone(), directive.at()),
            }
        };
        Some(CustomLog {
            target,
            format,
            host: host.clone(),
            at: directive.at(),
        })
    }

    /// The logs as sources, named, and what was skipped.
    fn into_logs(self) -> DeclaredLogs {
        let mut sources: Vec<LogSource> = Vec::new();
        let mut notes = self.notes;
        let mut names = DeclaredNames::default();
        for log in &self.logs {
            if log.target.starts_with('|') {
                notes.push(format!(
                    "{}: CustomLog {}: piped logs cannot be followed; skipped",
                    log.at, log.target
                ));
                continue;
            }
            if log.target.contains("${") {
                notes.push(format!(
                    "{}: CustomLog {}: a path with an undefined variable; skipped",
                    log.at, log.target
                ));
                continue;
            }
            let path = self.root.join(&log.target);
            if sources.iter().any(|source| source.pattern == path) {
                continue;
            }
            let template = match Template::compile(Dialect::Apache, &log.format.0) {
                Ok(template) => template,
                Err(error) => {
                    notes.push(format!(
                        "{}: LogFormat {:?}: {error}; {} skipped",
                        log.format.1, log.format.0, log.target
                    ));
                    continue;
                }
            };
            let host = (log.host.as_ref()).map(|(index, name)| (*index, name.as_deref()));
            sources.push(LogSource {
                name: Some(names.name(host, &path)),
                pattern: path,
                is_glob: false,
                format: Some(LogFormat::Template(Arc::new(template))),
                labels: Vec::new(),
            });
        }
        DeclaredLogs {
            sources,
            syslog: Vec::new(),
            notes,
        }
    }
}

/// The first usable `ServerName` of a virtual host, without its port: not a wildcard.
fn server_name(host: &[Directive]) -> Option<String> {
    let name = (host.iter())
        .find(|directive| directive.name == "servername")?
        .args
        .first()?;
    let name = name
        .rsplit_once("://")
        .map_or(name.as_str(), |(_, rest)| rest);
    let name = match name.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => name,
    };
    (!name.is_empty() && !name.contains('*')).then(|| name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests;
