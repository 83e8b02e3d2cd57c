use super::*;

#[test]
fn entries_are_files_globs_and_tags_with_formats_and_labels() {
    let logs = parse(
        "logs:\n\
         \x20 - name: shop\n\
         \x20   path: /var/log/nginx/shop.access.log\n\
         \x20   format: 'nginx:$remote_addr [$time_local] \"$request\" $status $body_bytes_sent'\n\
         \x20   labels: {team: shop, tier: \"1\"}\n\
         \x20 - name: vhosts\n\
         \x20   path: /var/log/nginx/*.access.log\n\
         \x20 - path: /var/log/plain.log\n\
         \x20 - tag: edge\n\
         \x20   format: combined\n\
         \x20 - name: feed\n\
         \x20   tag: nginx\n",
    )
    .unwrap();
    let files: Vec<_> = (logs.sources.iter())
        .map(|s| (s.name.as_deref(), s.pattern.to_str().unwrap(), s.is_glob))
        .collect();
    assert_eq!(
        files,
        [
            (Some("shop"), "/var/log/nginx/shop.access.log", false),
            (Some("vhosts"), "/var/log/nginx/*.access.log", true),
            (None, "/var/log/plain.log", false),
        ]
    );
    assert!(matches!(
        logs.sources[0].format,
        Some(LogFormat::Template(_))
    ));
    assert_eq!(logs.sources[1].format, None, "--format's");
    assert_eq!(
        logs.sources[0].labels,
        [("team".into(), "shop".into()), ("tier".into(), "1".into())]
    );
    let tags: Vec<_> = logs
        .streams
        .iter()
        .map(|s| (s.label(), s.format.clone()))
        .collect();
    assert_eq!(tags, [("edge", Some(LogFormat::Combined)), ("feed", None)]);
}

/// Each mistake is one line naming where it is: the line and column of the value, or of the
/// entry for what concerns the whole entry.
#[test]
fn every_error_says_its_line_and_column() {
    for (text, at, says) in [
        ("logs:\n  - path: /a.log\n    colour: red\n", (3, 5), "unknown field `colour`"),
        ("logz: []\n", (1, 1), "unknown field `logz`"),
        ("logs:\n  - path: /a.log\n    format: xml\n", (3, 13), "expected auto, common"),
        (
            "logs:\n  - path: /a.log\n    format: 'nginx:$remote_addr $colour'\n",
            (3, 13),
            "$colour",
        ),
        ("logs:\n  - name: a\n    path: /a.log\n  - name: a\n    path: /b.log\n", (4, 11), "given to two logs"),
        ("logs:\n  - name: edge\n    path: /a.log\n  - tag: edge\n", (4, 5), "given to two logs"),
        ("logs:\n  - name: 'a b'\n    path: /a.log\n", (2, 11), "not a log name"),
        ("logs:\n  - path: /a.log\n    labels: {0team: x}\n", (3, 14), "not a label name"),
        ("logs:\n  - path: /a.log\n    labels: {section: x}\n", (3, 14), "the exporter or Prometheus sets"),
        ("logs:\n  - path: /a.log\n    labels: {__name__: x}\n", (3, 14), "the exporter or Prometheus sets"),
        (
            "logs:\n  - path: /a.log\n    labels: {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}\n",
            (3, 13),
            "more than 8 labels",
        ),
        ("logs:\n  - path: /a.log\n    tag: t\n", (2, 5), "a path or a tag, not both"),
        ("logs:\n  - name: x\n", (2, 5), "needs a path or a tag"),
        ("logs:\n  - path: '/a/[.log'\n", (2, 11), "not a valid glob"),
        ("logs:\n  - tag: 'a:b'\n", (2, 10), "not a syslog tag"),
        ("logs:\n  - path: /a.log\n  bad indent: 1\n", (3, 3), ""),
    ] {
        let (location, problem) = parse(text).map(|_| ()).unwrap_err();
        assert_eq!(location, Some(at), "{text}: {problem}");
        assert!(problem.contains(says), "{text}: {problem}");
        assert!(!problem.contains('\n') && !problem.contains(" at line "), "{problem}");
    }
}

#[test]
fn the_error_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.yml");
    std::fs::write(&path, "logs:\n  - path: /a.log\n    format: xml\n").unwrap();
    let error = read(&path).unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("{}:3:13: ", path.display())),
        "{error}"
    );
    let missing = read(&dir.path().join("none.yml")).unwrap_err().to_string();
    assert!(missing.contains("none.yml: "), "{missing}");
}
