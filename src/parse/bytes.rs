//! Finding the ends of the short values a log line is made of.
//!
//! Tokens of a log line (hosts, users, statuses, sizes, methods, sections, W3C values) are
//! short, where memchr's setup costs more than its search, and of varying length, where a loop
//! over bytes mispredicts its exit once a token. These read eight bytes at a time and find the
//! matches among them without a branch per byte: [`find_first`] for one token's end,
//! [`space_positions`] for every separator of a W3C line.

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

/// The positions of the spaces in `input`, in order, written to `out`: how many there are, or
/// `None` if more than `out` holds.
///
/// Each 64 bytes are turned into a bitmap of their spaces without a branch, and only then are
/// the bits walked: a loop per eight-byte word would mispredict its exit on most words, since
/// they hold zero, one or two spaces.
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
        record(n * 64, space_bits(block))?;
    }
    let rest = blocks.remainder();
    let offset = input.len() - rest.len();
    let bits = space_bits(rest);
    record(offset, bits)?;
    Some(count)
}

/// Bit `i` set where byte `i` of `block` (at most 64 bytes) is a space.
#[cfg(target_arch = "x86_64")]
fn space_bits(block: &[u8]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    let mask = |sixteen: &[u8]| -> u64 {
        assert_eq!(sixteen.len(), 16);
        // SAFETY: SSE2 is part of every x86_64 CPU; the slice holds the 16 bytes read, and an
        // unaligned load may read them from anywhere.
        let found = unsafe {
            let bytes = _mm_loadu_si128(sixteen.as_ptr().cast::<__m128i>());
            _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(b' ' as i8)))
        };
        u64::from(found as u16)
    };
    let mut chunks = block.chunks_exact(16);
    let mut bits = 0;
    for (i, chunk) in (&mut chunks).enumerate() {
        bits |= mask(chunk) << (16 * i);
    }
    let tail = chunks.remainder();
    if tail.is_empty() {
        return bits;
    }
    let done = block.len() - tail.len();
    let tail_bits = if block.len() >= 16 {
        // The block's last 16 bytes, overlapping what came before: one load, where copying the
        // tail into a padded buffer would stall on store forwarding.
        mask(&block[block.len() - 16..]) >> (16 - tail.len())
    } else {
        tail.iter()
            .rev()
            .fold(0, |bits, &b| bits << 1 | u64::from(b == b' '))
    };
    bits | tail_bits << done
}

/// Bit `i` set where byte `i` of `block` (at most 64 bytes) is a space: eight bytes at a time,
/// for CPUs without the x86_64 baseline's vector compares.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn space_bits_portable(block: &[u8]) -> u64 {
    let mut words = block.chunks_exact(8);
    let mut bits = 0;
    for (i, word) in (&mut words).enumerate() {
        bits |= byte_bits(matches(word, [b' '])) << (8 * i);
    }
    for (i, &b) in words.remainder().iter().enumerate() {
        bits |= u64::from(b == b' ') << (block.len() / 8 * 8 + i);
    }
    bits
}

#[cfg(not(target_arch = "x86_64"))]
use space_bits_portable as space_bits;

/// The bits of [`matches`]' high bits gathered into the low byte: bit `i` for byte `i`.
fn byte_bits(high_bits: u64) -> u64 {
    // Each high bit, moved down to bit 0 of its byte, is multiplied into bit 56 + i; no two
    // products overlap below bit 64, so nothing carries between them.
    ((high_bits >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
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
            let mut out = [0u32; 64];
            let expected: Vec<u32> = (0..bytes.len() as u32).filter(|&i| bytes[i as usize] == b' ').collect();
            let blocks = bytes.chunks(64).map(|block| {
                block.iter().enumerate().fold(0u64, |bits, (i, &b)| bits | u64::from(b == b' ') << i)
            });
            for (block, expected) in bytes.chunks(64).zip(blocks) {
                proptest::prop_assert_eq!(space_bits(block), expected);
                proptest::prop_assert_eq!(space_bits_portable(block), expected);
            }
            match space_positions(&bytes, &mut out) {
                Some(count) => proptest::prop_assert_eq!(&out[..count], &expected[..]),
                None => proptest::prop_assert!(expected.len() > 64),
            }
        }
    }
}
