//! Finding the ends of the short values a log line is made of.
//!
//! Tokens of a log line (hosts, users, statuses, sizes, methods, sections, W3C values) are
//! short, where memchr's setup costs more than its search, and of varying length, where a loop
//! over bytes mispredicts its exit once a token. These read eight bytes at a time and find the
//! matches among them without a branch per byte: [`find_first`] for one token's end,
//! [`split_at_spaces`] for every value of a W3C line.

const LOW_SEVENS: u64 = u64::from_ne_bytes([0x7f; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Where the first byte of `input` that is one of `needles` is.
pub(super) fn find_first<const N: usize>(input: &[u8], needles: [u8; N]) -> Option<usize> {
    let mut words = input.chunks_exact(8);
    for (n, word) in (&mut words).enumerate() {
        let found = matches(word, needles);
        if found != 0 {
            return Some(n * 8 + found.trailing_zeros() as usize / 8);
        }
    }
    let rest = words.remainder();
    let offset = input.len() - rest.len();
    rest.iter()
        .position(|b| needles.contains(b))
        .map(|i| offset + i)
}

/// Splits `input` at each space into `out`: how many values it holds, or `None` if more than
/// `out` can.
///
/// Each eight bytes are searched at once for all their spaces.
pub(super) fn split_at_spaces<'a>(input: &'a [u8], out: &mut [&'a [u8]]) -> Option<usize> {
    let (mut count, mut start) = (0, 0);
    let mut take = |end: usize| -> Option<()> {
        *out.get_mut(count)? = &input[start..end];
        count += 1;
        start = end + 1;
        Some(())
    };
    let mut words = input.chunks_exact(8);
    for (n, word) in (&mut words).enumerate() {
        let mut spaces = matches(word, [b' ']);
        while spaces != 0 {
            take(n * 8 + spaces.trailing_zeros() as usize / 8)?;
            spaces &= spaces - 1;
        }
    }
    let offset = input.len() - words.remainder().len();
    for (i, &b) in words.remainder().iter().enumerate() {
        if b == b' ' {
            take(offset + i)?;
        }
    }
    take(input.len())?;
    Some(count)
}

/// The high bit of each byte of the eight-byte `word` that is one of `needles`, little-endian.
///
/// A byte of `word ^ needle` is zero where the word holds the needle. Adding 0x7f to its low
/// seven bits sets its high bit unless it was zero, and never carries into the next byte, so
/// every bit set marks a match.
fn matches<const N: usize>(word: &[u8], needles: [u8; N]) -> u64 {
    let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
    needles.iter().fold(0, |found, &needle| {
        let x = word ^ u64::from_ne_bytes([needle; 8]);
        found | (!(((x & LOW_SEVENS).wrapping_add(LOW_SEVENS)) | x) & HIGHS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn finds_what_a_byte_loop_finds(
            // Needles among the bytes that could fool a word-at-a-time search: their
            // neighbours, zero, and high bytes.
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![b' ', b'!', 0x1f, 0x00, 0xa0, 0xff, b'/', b'?', b'#', b'a']),
                0..40,
            )
        ) {
            proptest::prop_assert_eq!(
                find_first(&bytes, [b' ']),
                bytes.iter().position(|&b| b == b' ')
            );
            proptest::prop_assert_eq!(
                find_first(&bytes, [b'/', b'?', b'#']),
                bytes.iter().position(|b| b"/?#".contains(b))
            );
            let mut out = [&b""[..]; 8];
            let expected: Vec<&[u8]> = bytes.split(|&b| b == b' ').collect();
            match split_at_spaces(&bytes, &mut out) {
                Some(count) => proptest::prop_assert_eq!(&out[..count], &expected[..]),
                None => proptest::prop_assert!(expected.len() > 8),
            }
        }
    }
}
