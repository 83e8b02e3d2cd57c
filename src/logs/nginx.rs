//! The logs an nginx configuration declares (`--nginx.config`): every `access_log`, each read
//! with its own `log_format`.
//!
//! The configuration is read from its files (following `include`, globs included, relative to
//! the main file's directory) or from the output of `nginx -T`, which prints each file once
//! under `# configuration file PATH:` and leaves the includes where they are written.
//!
//! Which logs are in effect follows nginx: a context (`http`, `server`, `location`, …) with
//! `access_log` directives of its own uses those alone, one without them inherits its parent's,
//! and `access_log off` turns them all off there. A file written from several contexts is one
//! log. Naming: a file declared in a `server` takes the server's first usable `server_name`
//! (not `_`, empty, a wildcard or a regex); a second file of the same server, and a file
//! declared at `http` level (shared by its servers), is named after its file name without
//! `.log`, as `--log-file` names files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::server_config::{
    ConfigError, DeclaredLogs, DeclaredNames, Directive, Files, MAX_CONFIG_BYTES, MAX_INCLUDE_DEPTH,
};
use super::{LogSource, Origin, StreamSource};
use crate::parse::{Dialect, LogFormat, Template};

/// nginx's built-in `combined` format.
const COMBINED: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status \
                        $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

/// Reads the configuration at `path` (`-`: the output of `nginx -T` on standard input) and
/// what it declares.
pub fn read(path: &Path) -> Result<DeclaredLogs, ConfigError> {
    let whole_file = |problem: String| ConfigError {
        file: path.to_owned(),
        line: 0,
        column: 0,
        problem,
    };
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(std::io::stdin().lock(), MAX_CONFIG_BYTES as u64),
            &mut text,
        )
        .map_err(|error| whole_file(format!("cannot read standard input: {error}")))?;
        text
    } else {
        super::server_config::read_file(path).map_err(whole_file)?
    };
    let files = match dumped_files(&text) {
        Some(files) => Files::Dump(files),
        None => Files::Disk {
            main: (path.to_owned(), text),
            read: 0,
        },
    };
    declared_logs(files)
}

/// The files of `nginx -T` output, if `text` is one: each under its
/// `# configuration file PATH:` line.
fn dumped_files(text: &str) -> Option<Vec<(PathBuf, String)>> {
    const MARK: &str = "# configuration file ";
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if let Some(path) = bare
            .strip_prefix(MARK)
            .and_then(|rest| rest.strip_suffix(':'))
        {
            files.push((PathBuf::from(path), String::new()));
        } else if let Some((_, text)) = files.last_mut() {
            text.push_str(line);
        }
    }
    (!files.is_empty()).then_some(files)
}

/// A token of the configuration's syntax, and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    kind: TokenKind,
    line: usize,
    column: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TokenKind {
    /// A word or a quoted string, unescaped.
    Word(String),
    Semicolon,
    Open,
    Close,
}

/// The tokens of `text`, as nginx reads them: words end at a space, `;`, `{` or `}`; `#` starts
/// a comment where a word would start; quotes group, with `\"`, `\'`, `\\`, `\n`, `\r` and `\t`
/// unescaped and any other `\` kept.
fn tokens(text: &str, file: &Path) -> Result<Vec<Token>, ConfigError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let (mut line, mut column) = (1, 0);
    let mut next = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        let c = chars.next()?;
        if c == '\n' {
            line += 1;
            column = 0;
        } else {
            column += 1;
        }
        Some((c, line, column))
    };
    let error = |line, column, problem: &str| ConfigError {
        file: file.to_owned(),
        line,
        column,
        problem: problem.to_owned(),
    };
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            next(&mut chars);
            continue;
        }
        let (c, at_line, at_column) = next(&mut chars).expect("peeked");
        let token = |kind| Token {
            kind,
            line: at_line,
            column: at_column,
        };
        match c {
            '#' => while next(&mut chars).is_some_and(|(c, _, _)| c != '\n') {},
            ';' => tokens.push(token(TokenKind::Semicolon)),
            '{' => tokens.push(token(TokenKind::Open)),
            '}' => tokens.push(token(TokenKind::Close)),
            '"' | '\'' => {
                let quote = c;
                let mut word = String::new();
                loop {
                    match next(&mut chars) {
                        None => {
                            return Err(error(at_line, at_column, "unterminated quoted string"))
                        }
                        Some((c, _, _)) if c == quote => break,
                        Some(('\\', _, _)) => match next(&mut chars) {
                            Some((c @ ('"' | '\'' | '\\'), _, _)) => word.push(c),
                            Some(('n', _, _)) => word.push('\n'),
                            Some(('r', _, _)) => word.push('\r'),
                            Some(('t', _, _)) => word.push('\t'),
                            Some((c, _, _)) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => {
                                return Err(error(at_line, at_column, "unterminated quoted string"))
                            }
                        },
                        Some((c, _, _)) => word.push(c),
                    }
                }
                tokens.push(token(TokenKind::Word(word)));
            }
            _ => {
                let mut word = String::from(c);
                let mut escaped = c == '\\';
                while let Some(&c) = chars.peek() {
                    if !escaped && (c.is_whitespace() || matches!(c, ';' | '{' | '}')) {
                        break;
                    }
                    escaped = !escaped && c == '\\';
                    word.push(c);
                    next(&mut chars);
                }
                tokens.push(token(TokenKind::Word(word)));
            }
        }
    }
    Ok(tokens)
}

/// Reads the directives of a file, with every `include` replaced by what it includes.
struct Reader<'f> {
    files: &'f mut Files,
    base: PathBuf,
}

impl Reader<'_> {
    fn file(
        &mut self,
        path: PathBuf,
        text: &str,
        depth: usize,
    ) -> Result<Vec<Directive>, ConfigError> {
        let tokens = tokens(text, &path)?;
        let file = Arc::new(path);
        let mut at = 0;
        let directives = self.block(&tokens, &mut at, &file, depth, None)?;
        Ok(directives)
    }

    /// The directives from `tokens[*at]` to the end of the block opened by `open` (or of the
    /// file).
    fn block(
        &mut self,
        tokens: &[Token],
        at: &mut usize,
        file: &Arc<PathBuf>,
        depth: usize,
        open: Option<&Token>,
    ) -> Result<Vec<Directive>, ConfigError> {
        let error = |token: &Token, problem: String| ConfigError {
            file: file.to_path_buf(),
            line: token.line,
            column: token.column,
            problem,
        };
        let mut directives = Vec::new();
        let mut words: Vec<(String, &Token)> = Vec::new();
        while let Some(token) = tokens.get(*at) {
            *at += 1;
            match &token.kind {
                TokenKind::Word(word) => words.push((word.clone(), token)),
                TokenKind::Semicolon | TokenKind::Open => {
                    let Some(((name, first), args)) = words.split_first() else {
                        return Err(error(
                            token,
                            format!("unexpected {:?}", symbol(&token.kind)),
                        ));
                    };
                    let args: Vec<String> = args.iter().map(|(word, _)| word.clone()).collect();
                    let block = match token.kind {
                        TokenKind::Open => {
                            Some(self.block(tokens, at, file, depth, Some(token))?)
                        }
                        _ => None,
                    };
                    if name == "include" && block.is_none() {
                        let [pattern] = &args[..] else {
                            return Err(error(first, "include takes one path".into()));
                        };
                        if depth >= MAX_INCLUDE_DEPTH {
                            return Err(error(first, "includes nested too deep (a loop?)".into()));
                        }
                        let base = self.base.clone();
                        let included = (self.files.include(pattern, &base)).map_err(|problem| {
                            error(first, format!("include {pattern}: {problem}"))
                        })?;
                        for (path, text) in included {
                            directives.extend(self.file(path, &text, depth + 1)?);
                        }
                    } else {
                        directives.push(Directive {
                            name: name.clone(),
                            args,
                            block,
                            file: Arc::clone(file),
                            line: first.line,
                        });
                    }
                    words.clear();
                }
                TokenKind::Close => {
                    if open.is_none() {
                        return Err(error(token, "unexpected \"}\"".into()));
                    }
                    if let Some((_, first)) = words.first() {
                        return Err(error(first, "directive without \";\"".into()));
                    }
                    return Ok(directives);
                }
            }
        }
        if let Some((_, first)) = words.first() {
            return Err(error(
                first,
                "directive without \";\" at the end of the file".into(),
            ));
        }
        if let Some(open) = open {
            return Err(error(open, "\"{\" not closed".into()));
        }
        Ok(directives)
    }
}

fn symbol(kind: &TokenKind) -> &'static str {
    match kind {
        TokenKind::Semicolon => ";",
        TokenKind::Open => "{",
        TokenKind::Close => "}",
        TokenKind::Word(_) => "word",
    }
}

/// A `log_format`: its string, and where it is declared.
struct Format {
    text: String,
    at: String,
}

/// An `access_log` in effect, and where it is declared.
#[derive(Debug, Clone)]
struct AccessLog {
    target: String,
    format: String,
    // The server it is declared in: its index and name, if it has a usable one.
    server: Option<(usize, Option<String>)>,
    gzip: bool,
    at: String,
}

/// Walks the configuration's contexts, collecting the logs in effect in each.
struct Walk {
    formats: HashMap<String, Format>,
    logs: Vec<AccessLog>,
    servers: usize,
    notes: Vec<String>,
}

fn declared_logs(mut files: Files) -> Result<DeclaredLogs, ConfigError> {
    let (main, text) = files.main();
    let base = main.parent().map(Path::to_owned).unwrap_or_default();
    let prefix = base
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| base.clone());
    let directives = Reader {
        files: &mut files,
        base,
    }
    .file(main, &text, 0)?;
    let mut walk = Walk {
        formats: HashMap::from([(
            "combined".to_owned(),
            Format {
                text: COMBINED.to_owned(),
                at: "nginx's built-in combined".to_owned(),
            },
        )]),
        logs: Vec::new(),
        servers: 0,
        notes: Vec::new(),
    };
    let mut http_seen = false;
    for directive in &directives {
        match (directive.name.as_str(), &directive.block) {
            ("http", Some(block)) => {
                http_seen = true;
                walk.formats(block);
                walk.context(block, &[], None);
            }
            ("stream" | "mail", Some(_)) => walk.notes.push(format!(
                "{}: the {} block's logs are not HTTP access logs; skipped",
                directive.at(),
                directive.name
            )),
            _ => {}
        }
    }
    if !http_seen {
        walk.notes
            .push("no http block: no access log declared".into());
    }
    Ok(walk.into_logs(&prefix))
}

impl Walk {
    /// Every `log_format` of the `http` block: nginx keeps them in one table for the block.
    fn formats(&mut self, http: &[Directive]) {
        for directive in http.iter().filter(|d| d.name == "log_format") {
            let Some((name, rest)) = directive.args.split_first() else {
                continue;
            };
            let strings = match rest.first() {
                Some(escape) if escape.starts_with("escape=") => &rest[1..],
                _ => rest,
            };
            // nginx matches format names without regard to case.
            self.formats.insert(
                name.to_ascii_lowercase(),
                Format {
                    text: strings.concat(),
                    at: directive.at(),
                },
            );
        }
    }

    /// Collects the logs in effect in the context `directives`, given its parent's.
    fn context(
        &mut self,
        directives: &[Directive],
        inherited: &[AccessLog],
        server: Option<(usize, Option<String>)>,
    ) {
        let own: Vec<&Directive> = directives
            .iter()
            .filter(|d| d.name == "access_log")
            .collect();
        let in_effect: Vec<AccessLog> = if own.is_empty() {
            inherited.to_vec()
        } else if own
            .iter()
            .any(|d| d.args.first().is_some_and(|a| a == "off"))
        {
            Vec::new()
        } else {
            own.iter()
                .filter_map(|directive| self.access_log(directive, &server))
                .collect()
        };
        // Each declaration once: where it is declared, not again where it is inherited.
        let declared_here = in_effect.iter().filter(|log| {
            !inherited
                .iter()
                .any(|parent| parent.target == log.target && parent.at == log.at)
        });
        self.logs.extend(declared_here.cloned());
        for directive in directives {
            let Some(block) = &directive.block else {
                continue;
            };
            match directive.name.as_str() {
                "server" => {
                    self.servers += 1;
                    let name = server_name(block);
                    self.context(block, &in_effect, Some((self.servers, name)));
                }
                "location" | "if" | "limit_except" => {
                    self.context(block, &in_effect, server.clone());
                }
                _ => {}
            }
        }
    }

    fn access_log(
        &mut self,
        directive: &Directive,
        server: &Option<(usize, Option<String>)>,
    ) -> Option<AccessLog> {
        let (target, rest) = directive.args.split_first()?;
        let format = rest
            .first()
            .filter(|arg| !arg.contains('='))
            .map_or("combined".to_owned(), |name| name.to_ascii_lowercase());
        let gzip = rest
            .iter()
            .any(|arg| arg == "gzip" || arg.starts_with("gzip="));
        Some(AccessLog {
            target: target.clone(),
            format,
            server: server.clone(),
            gzip,
            at: directive.at(),
        })
    }

    /// The logs as sources, named, and what was skipped.
    fn into_logs(mut self, prefix: &Path) -> DeclaredLogs {
        let mut sources: Vec<LogSource> = Vec::new();
        let mut syslog: Vec<(StreamSource, String)> = Vec::new();
        // The files each server declares, to tell its first from the others.
        let mut names = DeclaredNames::default();
        for log in std::mem::take(&mut self.logs) {
            if let Some(parameters) = log.target.strip_prefix("syslog:") {
                let tag = (parameters.split(','))
                    .find_map(|parameter| parameter.strip_prefix("tag="))
                    .unwrap_or("nginx");
                let declared = format!("{}: access_log {}", log.at, log.target);
                if syslog.iter().any(|(stream, _)| stream.label() == tag) {
                    continue;
                }
                match self.template(&log) {
                    Ok(template) => syslog.push((
                        StreamSource {
                            name: None,
                            origin: Origin::Syslog {
                                tag: tag.to_owned(),
                            },
                            format: Some(LogFormat::Template(Arc::new(template))),
                            labels: Vec::new(),
                        },
                        declared,
                    )),
                    Err(note) => self.notes.push(note),
                }
                continue;
            }
            if log.target.contains('$') {
                self.notes.push(format!(
                    "{}: access_log {}: a path made of variables cannot be followed; skipped",
                    log.at, log.target
                ));
                continue;
            }
            if log.gzip {
                self.notes.push(format!(
                    "{}: access_log {}: gzip-compressed logs cannot be followed; skipped",
                    log.at, log.target
                ));
                continue;
            }
            let path = prefix.join(&log.target);
            if sources.iter().any(|source| source.pattern == path) {
                continue;
            }
            let template = match self.template(&log) {
                Ok(template) => template,
                Err(note) => {
                    self.notes.push(note);
                    continue;
                }
            };
            let server = (log.server.as_ref()).map(|(index, name)| (*index, name.as_deref()));
            let name = names.name(server, &path);
            sources.push(LogSource {
                name: Some(name),
                pattern: path,
                is_glob: false,
                format: Some(LogFormat::Template(Arc::new(template))),
                labels: Vec::new(),
            });
        }
        DeclaredLogs {
            sources,
            syslog,
            notes: self.notes,
        }
    }

    /// The compiled `log_format` of `log`, or the note that says why it has none.
    fn template(&self, log: &AccessLog) -> Result<Template, String> {
        let Some(format) = self.formats.get(&log.format) else {
            return Err(format!(
                "{}: access_log {}: unknown log_format {:?}; skipped",
                log.at, log.target, log.format
            ));
        };
        Template::compile(Dialect::Nginx, &format.text).map_err(|error| {
            format!(
                "{}: log_format {}: {error}; {} skipped",
                format.at, log.format, log.target
            )
        })
    }
}

/// The first usable `server_name` of a server block: not `_`, empty, a wildcard or a regex.
fn server_name(server: &[Directive]) -> Option<String> {
    server
        .iter()
        .filter(|directive| directive.name == "server_name")
        .flat_map(|directive| &directive.args)
        .find(|name| {
            !name.is_empty()
                && *name != "_"
                && !name.contains('*')
                && !name.starts_with('~')
                && !name.starts_with('.')
        })
        .map(|name| name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests;
