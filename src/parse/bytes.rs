//! Finding the ends of the short values a log line is made of.
//!
//! Tokens of a log line (hosts, users, statuses, sizes, methods, sections, quoted fields, W3C
//! values) are short, where a general search's setup (memchr's dispatch through a function
//! pointer) costs more than the search, and of varying length, where a loop over bytes
//! mispredicts its exit once a token. The searches here read sixteen bytes at once and turn
//! them into a bitmap of matches, one bit a byte: [`find_first`] for one token's end,
//! [`space_bitmap`] for the first few, [`space_positions`] for every separator of a W3C line.
//! Numbers are read the same way, eight digits in a word: [`leading_digits`].
//!
//! On x86_64 the bitmap is two SSE2 instructions a needle (SSE2 is part of every x86_64 CPU, so
//! nothing is detected at run time); elsewhere it is computed eight bytes at a time in a word.

/// Where the first byte of `input` that is one of `needles` is.
#[inline]
pub(super) fn find_first<const N: usize>(input: &[u8], needles: [u8; N]) -> Option<usize> {
    let len = input.len();
    // Each last load below overlaps bytes already searched, which held no needle: what it
    // finds is in the bytes not searched yet.
    if len >= 16 {
        let mut chunks = input.chunks_exact(16);
        for (n, sixteen) in (&mut chunks).enumerate() {
            let found = mask16(sixteen, needles);
            if found != 0 {
                return Some(n * 16 + found.trailing_zeros() as usize);
            }
        }
        if chunks.remainder().is_empty() {
            return None;
        }
        let found = mask16(&input[len - 16..], needles);
        return (found != 0).then(|| len - 16 + found.trailing_zeros() as usize);
    }
    if len >= 8 {
        for start in [0, len - 8] {
            let found = matches(&input[start..start + 8], needles);
            if found != 0 {
                return Some(start + found.trailing_zeros() as usize / 8);
            }
        }
        return None;
    }
    input.iter().position(|b| needles.contains(b))
}

/// The positions of the spaces in `input`, in order, written to `out`: how many there are, or
/// `None` if more than `out` holds.
///
/// Each 64 bytes are turned into a bitmap of their spaces without a branch, and only then are
/// the bits walked: a loop per word would mispredict its exit on most words, since they hold
/// zero, one or two spaces.
pub(super) fn space_positions(input: &[u8], out: &mut [u32]) -> Option<usize> {
    let mut count = 0;
    let mut record = |base: usize, mut bits: u64| -> Option<()> {
        while bits != 0 {
            *out.get_mut(count)? = (base + bits.trailing_zeros() as usize) as u32;
            count += 1;
            bits &= bits - 1;
        }
        Some(())
    };
    let mut blocks = input.chunks_exact(64);
    for (n, block) in (&mut blocks).enumerate() {
        record(n * 64, space_bitmap(block))?;
    }
    let offset = input.len() - blocks.remainder().len();
    record(offset, space_bitmap(blocks.remainder()))?;
    Some(count)
}

/// The decimal digits of `line` from `start` on, as a number, and how many there are (0 if
/// none); `None` if the number does not fit in a `u64`.
///
/// The first eight bytes are read as one word: which of them are digits, and their value, come
/// from a few word operations rather than a loop whose exit depends on how many there are.
pub(super) fn leading_digits(line: &[u8], start: usize) -> Option<(u64, usize)> {
    let available = line.len().checked_sub(start)?;
    let word = if available == 0 {
        return Some((0, 0));
    } else if available >= 8 {
        u64::from_le_bytes(line[start..start + 8].try_into().expect("eight bytes"))
    } else if line.len() >= 8 {
        // The line's last eight bytes, shifted so that the first is at `start`; zeros come in
        // past the end, and a zero is not a digit.
        let last = u64::from_le_bytes(line[line.len() - 8..].try_into().expect("eight bytes"));
        last >> (8 * (8 - available))
    } else {
        return digits_from(line, start, 0, 0);
    };
    let values = word ^ u64::from_ne_bytes([b'0'; 8]);
    // A byte is a digit when its value is below 10. Adding 0x76 to its low seven bits sets the
    // high bit when they are 10 or more (a value with the high bit set already is kept by the
    // `| values`); the sum never carries into the next byte.
    let not_digits =
        (((values & LOW_SEVENS).wrapping_add(u64::from_ne_bytes([0x76; 8]))) | values) & HIGHS;
    let count = not_digits.trailing_zeros() as usize / 8;
    if count == 0 {
        return Some((0, 0));
    }
    // The digits moved to the top of the word, zeros below them as leading zeros, then
    // combined pairwise: 8 digits → 4 two-digit values → 2 four-digit values → 1.
    let digits = (values << (8 * (8 - count))) & u64::from_ne_bytes([0x0f; 8]);
    let pairs = (digits.wrapping_mul(10) + (digits >> 8)) & 0x00ff_00ff_00ff_00ff;
    let quads = (pairs.wrapping_mul(100) + (pairs >> 16)) & 0x0000_ffff_0000_ffff;
    let value = (quads.wrapping_mul(10_000) + (quads >> 32)) & 0xffff_ffff;
    if count < 8 {
        return Some((value, count));
    }
    digits_from(line, start, value, count)
}

/// Whether the first `len` bytes of `input` are `A`–`Z`, when 1 ≤ `len` ≤ 8 ≤ `input.len()`;
/// `false` otherwise, to be asked again byte by byte. What a method token nearly always is,
/// checked as one word where a loop over its bytes mispredicts its exit.
#[inline]
pub(super) fn all_upper_case(input: &[u8], len: usize) -> bool {
    let (Some(word), 1..=8) = (input.get(..8), len) else {
        return false;
    };
    let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
    // The bytes past `len` made an `A`, which passes.
    let kept = u64::MAX >> (8 * (8 - len));
    let word = (word & kept) | (u64::from_ne_bytes([b'A'; 8]) & !kept);
    // For a byte below 0x80, `(b | 0x80) - 'A'` keeps its high bit when b ≥ 'A', and
    // `(0x80 | 'Z') - b` when b ≤ 'Z'; neither borrows from the next byte.
    let at_least_a = (word | HIGHS).wrapping_sub(u64::from_ne_bytes([b'A'; 8]));
    let at_most_z = u64::from_ne_bytes([0x80 | b'Z'; 8]).wrapping_sub(word & LOW_SEVENS);
    at_least_a & at_most_z & !word & HIGHS == HIGHS
}

/// [`leading_digits`] a byte at a time, from `value` of the first `count` digits on.
fn digits_from(
    line: &[u8],
    start: usize,
    mut value: u64,
    mut count: usize,
) -> Option<(u64, usize)> {
    while let Some(&digit @ b'0'..=b'9') = line.get(start + count) {
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
        count += 1;
    }
    Some((value, count))
}

/// Bit `i` set where byte `i` of `block` (at most 64 bytes) is a space.
#[inline]
pub(super) fn space_bitmap(block: &[u8]) -> u64 {
    bitmap(block, [b' '])
}

/// Bit `i` set where byte `i` of `block` (at most 64 bytes) is one of `needles`: a fixed number
/// of steps for a block of a given length, whatever it holds.
#[inline]
pub(super) fn bitmap<const N: usize>(block: &[u8], needles: [u8; N]) -> u64 {
    debug_assert!(block.len() <= 64);
    let mut chunks = block.chunks_exact(16);
    let mut bits = 0;
    for (i, sixteen) in (&mut chunks).enumerate() {
        bits |= u64::from(mask16(sixteen, needles)) << (16 * i);
    }
    match chunks.remainder().len() {
        0 => bits,
        tail => bits | u64::from(tail_bits(block, tail, needles)) << (block.len() - tail),
    }
}

/// The matches among the last `tail` (< 16) bytes of `input`, bit 0 for the first of them.
#[inline]
fn tail_bits<const N: usize>(input: &[u8], tail: usize, needles: [u8; N]) -> u32 {
    if tail == 0 {
        return 0;
    }
    match input.len().checked_sub(16) {
        // The input's last sixteen bytes, overlapping what was searched before: one load,
        // where copying the tail into a padded buffer would stall on store forwarding.
        Some(start) => mask16(&input[start..], needles) >> (16 - tail),
        None => input[input.len() - tail..]
            .iter()
            .rev()
            .fold(0, |bits, b| bits << 1 | u32::from(needles.contains(b))),
    }
}

/// Bit `i` set where byte `i` of `sixteen` (sixteen bytes) is one of `needles`.
#[cfg(target_arch = "x86_64")]
#[inline]
fn mask16<const N: usize>(sixteen: &[u8], needles: [u8; N]) -> u32 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_setzero_si128,
    };
    assert_eq!(sixteen.len(), 16);
    // SAFETY: SSE2 is part of every x86_64 CPU; the slice holds the sixteen bytes read, and an
    // unaligned load may read them from anywhere.
    let found = unsafe {
        let bytes = _mm_loadu_si128(sixteen.as_ptr().cast::<__m128i>());
        let found = needles.iter().fold(_mm_setzero_si128(), |found, &needle| {
            _mm_or_si128(found, _mm_cmpeq_epi8(bytes, _mm_set1_epi8(needle as i8)))
        });
        _mm_movemask_epi8(found)
    };
    found as u32
}

#[cfg(not(target_arch = "x86_64"))]
use mask16_portable as mask16;

/// [`mask16`] eight bytes at a time in a word, for CPUs without the x86_64 baseline.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn mask16_portable<const N: usize>(sixteen: &[u8], needles: [u8; N]) -> u32 {
    let (low, high) = sixteen.split_at(8);
    (byte_bits(matches(low, needles)) | byte_bits(matches(high, needles)) << 8) as u32
}

const LOW_SEVENS: u64 = u64::from_ne_bytes([0x7f; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

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

/// The high bits [`matches`] sets gathered into the low byte: bit `i` for byte `i`.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn byte_bits(high_bits: u64) -> u64 {
    // Each high bit, moved down to bit 0 of its byte, is multiplied into bit 56 + i; no two
    // products overlap below bit 64, so nothing carries between them.
    ((high_bits >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_digits_at_or_past_the_end_of_a_line() {
        let line = b"GET / HTTP/1.1\" 12345678 200 ";
        assert_eq!(leading_digits(line, line.len()), Some((0, 0)));
        assert_eq!(leading_digits(line, line.len() + 1), None);
        assert_eq!(leading_digits(b"123", 3), Some((0, 0)));
        assert_eq!(leading_digits(line, line.len() - 4), Some((200, 3)));
    }

    proptest::proptest! {
        #[test]
        fn reads_digits_as_str_parse_does(
            before in "[0-9 a]{0,10}",
            digits in "[0-9]{0,24}",
            after in "[- a0]{0,10}",
        ) {
            let line = format!("{before}{digits}{after}");
            let start = before.len();
            // What follows the digits may begin with more digits; count them in.
            let all: String =
                line[start..].chars().take_while(|c| c.is_ascii_digit()).collect();
            let expected = if all.is_empty() {
                Some((0, 0))
            } else {
                all.parse::<u64>().ok().map(|value| (value, all.len()))
            };
            proptest::prop_assert_eq!(leading_digits(line.as_bytes(), start), expected);
        }

        #[test]
        fn upper_case_as_a_byte_loop_sees_it(
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![b'A', b'Z', b'M', b'@', b'[', b'a', b'z', 0xc1, 0xda, 0x00, b' ']),
                0..12,
            ),
            len in 0..10usize,
        ) {
            let expected = (1..=8).contains(&len)
                && bytes.len() >= 8
                && bytes[..len].iter().all(u8::is_ascii_uppercase);
            proptest::prop_assert_eq!(all_upper_case(&bytes, len), expected);
        }

        #[test]
        fn finds_what_a_byte_loop_finds(
            // Needles among the bytes that could fool a word-at-a-time search: their
            // neighbours, zero, and high bytes.
            bytes in proptest::collection::vec(
                proptest::sample::select(vec![b' ', b'!', 0x1f, 0x00, 0xa0, 0xff, b'/', b'?', b'#', b'a']),
                0..200,
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
            for sixteen in bytes.chunks_exact(16) {
                let expected = sixteen
                    .iter()
                    .enumerate()
                    .fold(0u32, |bits, (i, b)| bits | u32::from(b"/?#".contains(b)) << i);
                proptest::prop_assert_eq!(mask16(sixteen, [b'/', b'?', b'#']), expected);
                proptest::prop_assert_eq!(mask16_portable(sixteen, [b'/', b'?', b'#']), expected);
            }
            let prefix = &bytes[..bytes.len().min(64)];
            let expected = prefix
                .iter()
                .enumerate()
                .fold(0u64, |bits, (i, &b)| bits | u64::from(b == b' ') << i);
            proptest::prop_assert_eq!(space_bitmap(prefix), expected);
            let mut out = [0u32; 64];
            let expected: Vec<u32> =
                (0..bytes.len() as u32).filter(|&i| bytes[i as usize] == b' ').collect();
            match space_positions(&bytes, &mut out) {
                Some(count) => proptest::prop_assert_eq!(&out[..count], &expected[..]),
                None => proptest::prop_assert!(expected.len() > 64),
            }
        }
    }
}
