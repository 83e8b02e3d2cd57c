//! The bounded vocabulary of label values shared by the metrics and the monitor, so both
//! fold methods and sections the same way.

/// Label value of every section past the cap, and of methods outside the standard set.
pub const OVERFLOW: &str = "(other)";
/// Label value (section and method) of requests the server could not read (`"-"`, TLS bytes).
pub const INVALID: &str = "(invalid)";

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
