//! The section of a request target: its path up to the second `/`.

/// The section of a request target, borrowed from it.
///
/// `/api/user?id=3` → `/api`, `/report` → `/report`, `/` → `/`. An absolute-form target
/// (`http://host/pages/x`) gives the section of its path (`/pages`), or `/` when it has none.
/// Targets with no path at all (`*` of `OPTIONS *`, `host:443` of `CONNECT`) give `*`.
pub fn section(target: &[u8]) -> &[u8] {
    let (path, absolute) = match strip_scheme_and_authority(target) {
        Some(after_authority) => (after_authority, true),
        None => (target, false),
    };
    let path = match memchr::memchr2(b'?', b'#', path) {
        Some(end) => &path[..end],
        None => path,
    };
    if path.first() != Some(&b'/') {
        return if absolute { b"/" } else { b"*" };
    }
    match memchr::memchr(b'/', &path[1..]) {
        Some(0) => b"/",
        Some(second) => &path[..second + 1],
        None => path,
    }
}

/// For `scheme://authority/path…`, what follows the authority (the path, possibly empty).
fn strip_scheme_and_authority(target: &[u8]) -> Option<&[u8]> {
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
    Some(&after_scheme[authority_end..])
}
