//! The bounded set of hosts that get a `host` label value of their own (`--host-label`).

use foldhash::HashMap;

use crate::labels::{label_key, label_value, OVERFLOW};

/// The longest host kept, in bytes (DNS names are at most 253): longer ones are cut.
const HOST_BYTES: usize = 256;

/// Maps hosts, lower-cased and without a default port, to small ids and their label values,
/// keeping at most `max`: the first seen. Later ones share [`OVERFLOW`]; a request with no host
/// has [`HostTable::NONE`], `host=""`, which takes no slot.
#[derive(Debug)]
pub struct HostTable {
    ids: HashMap<Box<[u8]>, u32>,
    labels: Vec<String>,
    max: usize,
    // Where a host with capitals is lower-cased.
    lower_cased: Vec<u8>,
}

impl HostTable {
    /// The id of requests with no host.
    pub const NONE: u32 = 0;
    /// The id of hosts past the cap.
    pub const OVERFLOW_ID: u32 = 1;

    /// A table that keeps at most `max` hosts apart.
    pub fn new(max: usize) -> HostTable {
        HostTable {
            ids: HashMap::default(),
            labels: vec![String::new(), OVERFLOW.into()],
            max,
            lower_cased: Vec::new(),
        }
    }

    /// The most ids there can be: the hosts kept, none and the overflow.
    pub fn span(&self) -> usize {
        self.max + 2
    }

    /// The id of the host of a request: its host `field` if the format has one and it says
    /// one, else the authority of an absolute-form `target` (`http://a.example/x`), else none.
    pub fn id(&mut self, field: Option<&[u8]>, target: Option<&[u8]>) -> u32 {
        // The parser gives no field for `-` or an empty one.
        let host = match field {
            Some(field) => normalize(field, None, &mut self.lower_cased),
            None => match target.and_then(authority) {
                Some((scheme, authority)) => {
                    normalize(authority, Some(scheme), &mut self.lower_cased)
                }
                None => return Self::NONE,
            },
        };
        if host.is_empty() {
            return Self::NONE;
        }
        let host = label_key(host);
        if let Some(&id) = self.ids.get(host) {
            return id;
        }
        if self.ids.len() >= self.max {
            return Self::OVERFLOW_ID;
        }
        let id = self.labels.len() as u32;
        self.labels.push(label_value(host));
        self.ids.insert(host.into(), id);
        id
    }

    /// The label value of an id returned by [`Self::id`].
    pub fn label(&self, id: u32) -> &str {
        &self.labels[id as usize]
    }
}

/// The scheme and authority of an absolute-form target, `scheme://authority/…`, without any
/// user information (`user@`).
fn authority(target: &[u8]) -> Option<(&[u8], &[u8])> {
    let (scheme, authority, _) = crate::parse::scheme_and_authority(target)?;
    let host = match memchr::memrchr(b'@', authority) {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    Some((scheme, host))
}

/// `host` lower-cased (into `lower_cased` if it has capitals), without the default port: of
/// its `scheme` when it came with one (an absolute-form target), else both `:80` and `:443` (a
/// host field says no scheme). Other ports are kept.
fn normalize<'a>(host: &'a [u8], scheme: Option<&[u8]>, lower_cased: &'a mut Vec<u8>) -> &'a [u8] {
    let host = &host[..host.len().min(HOST_BYTES)];
    let defaults: &[&[u8]] = match scheme {
        Some(scheme) if scheme.eq_ignore_ascii_case(b"http") => &[b":80"],
        Some(scheme) if scheme.eq_ignore_ascii_case(b"https") => &[b":443"],
        Some(_) => &[],
        None => &[b":80", b":443"],
    };
    let host = match defaults.iter().find(|port| host.ends_with(port)) {
        Some(port) => &host[..host.len() - port.len()],
        None => host,
    };
    if !host.iter().any(u8::is_ascii_uppercase) {
        return host;
    }
    lower_cased.clear();
    lower_cased.extend(host.iter().map(u8::to_ascii_lowercase));
    lower_cased
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_lower_cased_without_their_default_port() {
        let mut table = HostTable::new(10);
        let mut label = |field: Option<&str>, target: Option<&str>| {
            let id = table.id(field.map(str::as_bytes), target.map(str::as_bytes));
            table.label(id).to_owned()
        };
        for (field, target, want) in [
            (Some("Shop.Example"), None, "shop.example"),
            (Some("shop.example:80"), None, "shop.example"),
            (Some("shop.example:443"), None, "shop.example"),
            (Some("shop.example:8080"), None, "shop.example:8080"),
            (Some("[::1]:80"), None, "[::1]"),
            (
                Some("shop.example"),
                Some("http://other.example/x"),
                "shop.example",
            ),
            (None, Some("http://My.Site.com/pages/create"), "my.site.com"),
            (None, Some("http://my.site.com:80/x"), "my.site.com"),
            (None, Some("https://my.site.com:443/x"), "my.site.com"),
            (None, Some("http://my.site.com:443/x"), "my.site.com:443"),
            (
                None,
                Some("https://user:pw@my.site.com:8443?q"),
                "my.site.com:8443",
            ),
            (None, Some("/pages/create"), ""),
            (None, None, ""),
        ] {
            assert_eq!(label(field, target), want, "{field:?} {target:?}");
        }
    }

    #[test]
    fn past_the_cap_hosts_are_other_and_no_host_takes_no_slot() {
        let mut table = HostTable::new(2);
        assert_eq!(table.id(None, Some(b"/x")), HostTable::NONE);
        let a = table.id(Some(b"a.example"), None);
        let b = table.id(Some(b"B.example"), None);
        assert_eq!(table.id(Some(b"b.example:80"), None), b);
        assert_eq!(table.id(Some(b"c.example"), None), HostTable::OVERFLOW_ID);
        assert_eq!((table.label(a), table.label(b)), ("a.example", "b.example"));
        assert_eq!(table.label(HostTable::OVERFLOW_ID), OVERFLOW);
        assert_eq!(table.id(None, None), HostTable::NONE);
    }
}
