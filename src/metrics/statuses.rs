//! The bounded set of status codes that get a label value of their own.

use crate::labels::status_class_label;

/// Maps status codes (100–999) to small ids and their label values, keeping at most `max`
/// codes apart: the first `max` distinct ones seen. Later codes share their class's id,
/// labelled `5xx` and so on, so that a log full of odd codes cannot grow the series while
/// queries on `status=~"5.."` still count them.
#[derive(Debug)]
pub struct StatusTable {
    // Status code to id; 0 or past the end: not seen yet. As long as the highest code seen.
    ids: Vec<u16>,
    // Label value by id; id 0 is never given.
    labels: Vec<String>,
    codes: usize,
    max: usize,
}

impl StatusTable {
    /// A table that keeps at most `max` status codes apart.
    pub fn new(max: usize) -> StatusTable {
        StatusTable {
            ids: Vec::new(),
            labels: vec![String::new()],
            codes: 0,
            max,
        }
    }

    /// The id of `status` (100–999), adding it if there is room, its class's if not.
    #[inline]
    pub fn id(&mut self, status: u16) -> usize {
        match self.ids.get(usize::from(status)) {
            Some(&id) if id != 0 => usize::from(id),
            _ => self.add(status),
        }
    }

    #[cold]
    fn add(&mut self, status: u16) -> usize {
        let label = if self.codes < self.max {
            self.codes += 1;
            status.to_string()
        } else {
            status_class_label(status).to_owned()
        };
        let id = match self.labels.iter().position(|known| *known == label) {
            Some(id) => id,
            None => {
                self.labels.push(label);
                self.labels.len() - 1
            }
        };
        let at = usize::from(status);
        if at >= self.ids.len() {
            self.ids.resize(at + 1, 0);
        }
        // At most 1,000 codes and 10 classes: an id always fits.
        self.ids[at] = id as u16;
        id
    }

    /// The label value of an id returned by [`Self::id`].
    pub fn label(&self, id: usize) -> &str {
        &self.labels[id]
    }

    /// How many label values have been given out.
    pub fn len(&self) -> usize {
        self.labels.len() - 1
    }

    /// Whether no status has been seen yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_past_the_cap_share_their_class() {
        let mut table = StatusTable::new(2);
        let ids: Vec<usize> = [200, 404, 200, 503, 599, 418, 404, 299]
            .iter()
            .map(|&s| table.id(s))
            .collect();
        let labels: Vec<&str> = ids.iter().map(|&id| table.label(id)).collect();
        assert_eq!(
            labels,
            ["200", "404", "200", "5xx", "5xx", "4xx", "404", "2xx"]
        );
        assert_eq!(ids[0], ids[2]);
        assert_eq!(ids[3], ids[4]);
        assert_eq!(table.len(), 5);
    }

    #[test]
    fn every_code_gets_an_id_within_the_bound() {
        let mut table = StatusTable::new(50);
        for status in (100..1000).rev() {
            let id = table.id(status);
            let label = table.label(id);
            assert!(label.starts_with(char::from(b'0' + (status / 100) as u8)));
        }
        assert_eq!(table.len(), 50 + 9);
    }
}
