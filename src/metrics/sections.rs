//! The bounded set of sections that get a label value of their own.

use foldhash::HashMap;

use crate::labels::{INVALID, OVERFLOW};

/// Maps section bytes to small ids and their label values, keeping at most `max` sections:
/// the first `max` distinct ones seen. Later ones share [`OVERFLOW`], so a log full of random
/// paths cannot grow memory or the number of series.
#[derive(Debug)]
pub struct SectionTable {
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
            ids: HashMap::default(),
            labels: vec![INVALID.into(), OVERFLOW.into()],
            max,
        }
    }

    /// The id of `section`, adding it if there is room, [`Self::OVERFLOW_ID`] if not.
    pub fn id(&mut self, section: &[u8]) -> u32 {
        if let Some(&id) = self.ids.get(section) {
            return id;
        }
        if self.ids.len() >= self.max {
            return Self::OVERFLOW_ID;
        }
        let id = self.labels.len() as u32;
        // Label values must be UTF-8; bytes that are not become U+FFFD, once per new section.
        self.labels
            .push(String::from_utf8_lossy(section).into_owned());
        self.ids.insert(section.into(), id);
        id
    }

    /// The label value of an id returned by [`Self::id`].
    pub fn label(&self, id: u32) -> &str {
        &self.labels[id as usize]
    }

    /// How many sections have their own id (the fixed ones not counted).
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no section has been seen yet.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}
