//! The bounded vocabulary of label values shared by the metrics and the monitor, so both
//! fold methods and sections the same way.

/// Label value of every section past the cap, and of methods outside the standard set.
pub const OVERFLOW: &str = "(other)";
/// Label value (section and method) of requests the server could not read (`"-"`, TLS bytes).
pub const INVALID: &str = "(invalid)";

/// The most bytes of a value taken from a log that count in a label: values this long or
/// longer are counted under their first [`LABEL_VALUE_BYTES`] bytes.
pub const LABEL_VALUE_BYTES: usize = 128;
/// What ends a label value cut short.
pub const CUT_MARK: &str = "…";

/// The part of `value` that tells it apart from others: its first [`LABEL_VALUE_BYTES`] bytes.
pub fn label_key(value: &[u8]) -> &[u8] {
    &value[..value.len().min(LABEL_VALUE_BYTES)]
}

/// The label value of a [`label_key`]: its bytes as UTF-8 (others as U+FFFD), and when the
/// key is a value cut short (or reads longer than the bound), no more than
/// [`LABEL_VALUE_BYTES`] bytes, cut at a character boundary and ended by [`CUT_MARK`].
pub fn label_value(key: &[u8]) -> String {
    let text = String::from_utf8_lossy(key);
    if key.len() < LABEL_VALUE_BYTES && text.len() <= LABEL_VALUE_BYTES {
        return text.into_owned();
    }
    let mut end = LABEL_VALUE_BYTES - CUT_MARK.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT_MARK}", &text[..end])
}

/// The methods counted under their own name (RFC 9110 and RFC 5789); all others are
/// [`OVERFLOW`].
pub const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];
/// Index of [`OVERFLOW`] among method indexes.
pub const OTHER_METHOD: u8 = KNOWN_METHODS.len() as u8;
/// Index of [`INVALID`] among method indexes.
pub const INVALID_METHOD: u8 = OTHER_METHOD + 1;
/// How many method indexes there are.
pub const METHOD_COUNT: usize = INVALID_METHOD as usize + 1;

/// The index of a method token: its place in [`KNOWN_METHODS`], or [`OTHER_METHOD`].
/// Methods are case-sensitive, so `get` is not `GET`.
pub fn method_index(method: &[u8]) -> u8 {
    KNOWN_METHODS
        .iter()
        .position(|m| m.as_bytes() == method)
        .map_or(OTHER_METHOD, |i| i as u8)
}

/// The label value of a method index.
pub fn method_label(index: u8) -> &'static str {
    match index {
        INVALID_METHOD => INVALID,
        OTHER_METHOD => OVERFLOW,
        known => KNOWN_METHODS[usize::from(known)],
    }
}

/// `2xx` for 200–299 and so on, `1xx` to `9xx`.
pub fn status_class_label(status: u16) -> &'static str {
    const CLASSES: [&str; 10] = [
        "0xx", "1xx", "2xx", "3xx", "4xx", "5xx", "6xx", "7xx", "8xx", "9xx",
    ];
    CLASSES[usize::from(status / 100 % 10)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_at_a_character_boundary_and_marked() {
        assert_eq!(label_value(b"/api"), "/api");
        let just_under = "a".repeat(LABEL_VALUE_BYTES - 1);
        assert_eq!(label_value(just_under.as_bytes()), just_under);
        let long = format!("/{}", "é".repeat(5000));
        let label = label_value(label_key(long.as_bytes()));
        assert!(label.len() <= LABEL_VALUE_BYTES, "{}", label.len());
        assert!(
            label.ends_with(CUT_MARK) && label.starts_with("/éé"),
            "{label}"
        );
        assert_eq!(
            label_key(long.as_bytes()),
            &long.as_bytes()[..LABEL_VALUE_BYTES]
        );
        // Bytes that are not UTF-8 take three bytes each as U+FFFD: still bounded.
        let label = label_value(&[0xff; 100]);
        assert!(label.len() <= LABEL_VALUE_BYTES && label.ends_with(CUT_MARK));
    }
}
