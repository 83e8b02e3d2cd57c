//! The bounded set of sections that get a label value of their own.

use foldhash::HashMap;

use crate::labels::{label_key, label_value, INVALID, OVERFLOW};

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

    /// The id of `section`, adding it if there is room, [`Self::OVERFLOW_ID`] if not. Sections
    /// are told apart by their first [`crate::labels::LABEL_VALUE_BYTES`] bytes.
    pub fn id(&mut self, section: &[u8]) -> u32 {
        let section = label_key(section);
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
        self.labels.push(label_value(section));
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

/// A section of at most 16 bytes, as words read straight from its bytes: its first and last
/// eight (or four, or single) bytes, which overlap, and its length, which says how.
///
/// Reading the words from the slice rather than copying it into a padded buffer first avoids
/// a store-forwarding stall a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ShortKey {
    first: u64,
    last: u64,
    len: u8,
}

impl ShortKey {
    fn new(section: &[u8]) -> Option<ShortKey> {
        let len = section.len();
        let (first, last) = match len {
            0 => (0, 0),
            1..=3 => {
                let bytes = [section[0], section[len / 2], section[len - 1]];
                (
                    u64::from(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], 0])),
                    0,
                )
            }
            4..=8 => {
                let word = |at: usize| {
                    u64::from(u32::from_le_bytes(section[at..at + 4].try_into().unwrap()))
                };
                (word(0) | word(len - 4) << 32, 0)
            }
            9..=16 => {
                let word = |at: usize| u64::from_le_bytes(section[at..at + 8].try_into().unwrap());
                (word(0), word(len - 8))
            }
            _ => return None,
        };
        Some(ShortKey {
            first,
            last,
            len: len as u8,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_sections_and_padding_bytes_stay_apart() {
        let mut table = SectionTable::new(20);
        let sections: [&[u8]; 14] = [
            b"/",
            b"/a",
            b"/a\0",
            b"/ab",
            b"/aab",
            b"/abab",
            b"/abcab",
            b"/aaaaaaa",
            b"/aaaaaaaa",
            b"/aaaaaaaaa",
            b"/fifteen-bytes_",
            b"/sixteen-bytes__",
            b"/sixteen-bytes_\0",
            b"/seventeen-bytes_",
        ];
        let ids: Vec<u32> = sections.iter().map(|s| table.id(s)).collect();
        let again: Vec<u32> = sections.iter().map(|s| table.id(s)).collect();
        assert_eq!(ids, again);
        let mut distinct = ids.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), sections.len(), "{ids:?}");
        assert_eq!(table.len(), sections.len());
        for (section, id) in sections.iter().zip(ids) {
            assert_eq!(table.label(id).as_bytes(), &section[..]);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 5000, ..Default::default() })]
        #[test]
        fn ids_are_equal_exactly_when_sections_are(
            a in proptest::collection::vec(proptest::sample::select(vec![b'/', b'a', 0]), 0..20),
            // b: a with one byte changed, or cut short, or a itself.
            change in proptest::option::of((0..20usize, proptest::sample::select(vec![b'/', b'a', 0]))),
            cut in 0..22usize,
        ) {
            let mut b = a.clone();
            if let Some((at, byte)) = change {
                if let Some(old) = b.get_mut(at) {
                    *old = byte;
                }
            }
            b.truncate(cut);
            let mut table = SectionTable::new(10);
            proptest::prop_assert_eq!(table.id(&a) == table.id(&b), a == b);
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
