//! The bounded set of sections that get a label value of their own.

use foldhash::HashMap;

use crate::labels::{INVALID, OVERFLOW};

/// Maps section bytes to small ids and their label values, keeping at most `max` sections:
/// the first `max` distinct ones seen. Later ones share [`OVERFLOW`], so a log full of random
/// paths cannot grow memory or the number of series.
#[derive(Debug)]
pub struct SectionTable {
    // Most sections are short: keyed by a fixed-size key, they are hashed and compared without
    // a call to memcmp. The rest are keyed by their bytes.
    short_ids: HashMap<ShortKey, u32>,
    ids: HashMap<Box<[u8]>, u32>,
    labels: Vec<String>,
    max: usize,
}

impl SectionTable {
    /// The id of [`INVALID`].
    pub const INVALID_ID: u32 = 0;
    /// The id of [`OVERFLOW`].
    pub const OVERFLOW_ID: u32 = 1;

    /// A table that keeps at most `max` sections apart from the two fixed ones.
    pub fn new(max: usize) -> SectionTable {
        SectionTable {
            short_ids: HashMap::default(),
            ids: HashMap::default(),
            labels: vec![INVALID.into(), OVERFLOW.into()],
            max,
        }
    }

    /// The id of `section`, adding it if there is room, [`Self::OVERFLOW_ID`] if not.
    pub fn id(&mut self, section: &[u8]) -> u32 {
        let short = ShortKey::new(section);
        let known = match short {
            Some(key) => self.short_ids.get(&key),
            None => self.ids.get(section),
        };
        if let Some(&id) = known {
            return id;
        }
        if self.len() >= self.max {
            return Self::OVERFLOW_ID;
        }
        let id = self.labels.len() as u32;
        // Label values must be UTF-8; bytes that are not become U+FFFD, once per new section.
        self.labels
            .push(String::from_utf8_lossy(section).into_owned());
        match short {
            Some(key) => self.short_ids.insert(key, id),
            None => self.ids.insert(section.into(), id),
        };
        id
    }

    /// The label value of an id returned by [`Self::id`].
    pub fn label(&self, id: u32) -> &str {
        &self.labels[id as usize]
    }

    /// How many sections have their own id (the fixed ones not counted).
    pub fn len(&self) -> usize {
        self.short_ids.len() + self.ids.len()
    }

    /// Whether no section has been seen yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A section of at most 15 bytes: its bytes, zero-padded, and its length in the last byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ShortKey(u128);

impl ShortKey {
    fn new(section: &[u8]) -> Option<ShortKey> {
        if section.len() >= 16 {
            return None;
        }
        let mut key = [0; 16];
        key[..section.len()].copy_from_slice(section);
        key[15] = section.len() as u8;
        Some(ShortKey(u128::from_le_bytes(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_sections_and_padding_bytes_stay_apart() {
        let mut table = SectionTable::new(10);
        let sections: [&[u8]; 6] = [
            b"/a",
            b"/a\0",
            b"/fifteen-bytes_",
            b"/sixteen-bytes__",
            b"/sixteen-bytes_\0",
            b"/",
        ];
        let ids: Vec<u32> = sections.iter().map(|s| table.id(s)).collect();
        let again: Vec<u32> = sections.iter().map(|s| table.id(s)).collect();
        assert_eq!(ids, again);
        let mut distinct = ids.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), sections.len(), "{ids:?}");
        assert_eq!(table.len(), 6);
        for (section, id) in sections.iter().zip(ids) {
            assert_eq!(table.label(id).as_bytes(), &section[..]);
        }
    }

    #[test]
    fn the_cap_counts_short_and_long_sections_together() {
        let mut table = SectionTable::new(2);
        assert_eq!(table.id(b"/short"), 2);
        assert_eq!(table.id(b"/a-section-longer-than-fifteen"), 3);
        assert_eq!(table.id(b"/third"), SectionTable::OVERFLOW_ID);
        assert_eq!(
            table.id(b"/another-long-section-name"),
            SectionTable::OVERFLOW_ID
        );
        assert_eq!(table.id(b"/short"), 2);
    }
}
