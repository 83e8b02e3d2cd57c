//! The section of a request target: its path up to the second `/`.

/// The section of a request target, borrowed from it.
///
/// `/api/user?id=3` → `/api`, `/report` → `/report`, `/` → `/`. An absolute-form target
/// (`http://host/pages/x`) gives the section of its path (`/pages`), or `/` when it has none.
/// Targets with no path at all (`*` of `OPTIONS *`, `host:443` of `CONNECT`) give `*`.
pub fn section(target: &[u8]) -> &[u8] {
    if target.first() == Some(&b'/') {
        return path_section(target);
    }
    match scheme_and_authority(target).map(|(_, _, path)| path) {
        Some(path) if path.first() == Some(&b'/') => path_section(path),
        Some(_) => b"/",
        None => b"*",
    }
}

/// The section of a path starting with `/`: up to the second `/`, or to the query or fragment.
fn path_section(path: &[u8]) -> &[u8] {
    match super::bytes::find_first(&path[1..], [b'/', b'?', b'#']) {
        Some(0) if path[1] == b'/' => b"/",
        Some(end) => &path[..end + 1],
        None => path,
    }
}

/// For an absolute-form `scheme://authority/path…`: the scheme, the authority, and what
/// follows it (the path, possibly empty).
pub fn scheme_and_authority(target: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let colon = memchr::memchr(b':', target)?;
    let scheme = &target[..colon];
    let is_scheme = !scheme.is_empty()
        && scheme[0].is_ascii_alphabetic()
        && scheme
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b));
    let after_scheme = target[colon + 1..].strip_prefix(b"//")?;
    if !is_scheme {
        return None;
    }
    let authority_end =
        memchr::memchr3(b'/', b'?', b'#', after_scheme).unwrap_or(after_scheme.len());
    let (authority, path) = after_scheme.split_at(authority_end);
    Some((scheme, authority, path))
}
