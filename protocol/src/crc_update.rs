//! Updating a record's CRC32C after a few of its bytes changed, without
//! reading the rest of the record again.
//!
//! CRC32C without its initial and final inversion (`raw` below) is linear:
//! for two messages of the same length, `crc(a) ^ crc(b) = raw(0, a ^ b)`.
//! When only the bytes `[at, at + n)` of a covered range of `len` bytes
//! change, `a ^ b` is zero outside them, so
//!
//! ```text
//! crc(new) = crc(old) ^ zeros(raw(0, delta), len - at - n)
//! ```
//!
//! where `delta` is the XOR of the old and new bytes and `zeros(x, k)` is
//! the register `x` carried through `k` zero bytes: a linear map of `x`,
//! applied here as one 4-lookup table step per set bit of `k` (tables for
//! every power of two up to [`MAX_ZEROS_LOG2`], built once).
//!
//! The broker stamps its fields into every record it stores; resealing by a
//! full CRC pass over each 1 KiB record was a quarter of its writer
//! thread's time. An update also keeps a record that was already corrupt
//! corrupt, where a full reseal would have made it look valid.

use std::sync::OnceLock;

/// CRC32C's polynomial, bit-reflected.
const POLY: u32 = 0x82F6_3B78;
/// Zero runs up to `2^MAX_ZEROS_LOG2 - 1` bytes (512 MiB) are supported,
/// far more than a frame can carry.
pub const MAX_ZEROS_LOG2: usize = 29;

/// One linear map of the CRC register, as four byte-indexed tables.
type Tables = [[u32; 256]; 4];

/// The CRC32C of a message whose bytes `[at, at + old.len())` (counted
/// from the start of the CRC'd range, which is `len` bytes long) changed
/// from `old` to `new`, given the CRC `crc` of the message before.
///
/// # Panics
/// If `old` and `new` differ in length or the changed bytes do not lie
/// inside the range.
pub fn update(crc: u32, len: usize, at: usize, old: &[u8], new: &[u8]) -> u32 {
    assert_eq!(old.len(), new.len(), "changed bytes before and after");
    let end = at + old.len();
    assert!(end <= len, "changed bytes beyond the CRC'd range");
    let mut delta = [0u8; 128];
    let mut reg = 0u32;
    for (o, n) in old.chunks(delta.len()).zip(new.chunks(delta.len())) {
        for (d, (a, b)) in delta.iter_mut().zip(o.iter().zip(n)) {
            *d = a ^ b;
        }
        reg = raw(reg, &delta[..o.len()]);
    }
    crc ^ zeros(reg, len - end)
}

/// The register `reg` carried through `data` (no inversions).
fn raw(reg: u32, data: &[u8]) -> u32 {
    !crc32c::crc32c_append(!reg, data)
}

/// The register `reg` carried through `k` zero bytes.
fn zeros(mut reg: u32, k: usize) -> u32 {
    assert!(k < 1 << MAX_ZEROS_LOG2, "zero run of {k} bytes is too long");
    let tables = powers();
    let mut bits = k;
    while bits != 0 {
        let j = bits.trailing_zeros() as usize;
        reg = apply(&tables[j], reg);
        bits &= bits - 1;
    }
    reg
}

fn apply(t: &Tables, reg: u32) -> u32 {
    let b = reg.to_le_bytes();
    t[0][usize::from(b[0])]
        ^ t[1][usize::from(b[1])]
        ^ t[2][usize::from(b[2])]
        ^ t[3][usize::from(b[3])]
}

/// Tables for `2^j` zero bytes, `j` in `0..MAX_ZEROS_LOG2`.
fn powers() -> &'static [Tables] {
    static POWERS: OnceLock<Vec<Tables>> = OnceLock::new();
    POWERS.get_or_init(|| {
        // One zero byte: eight shift-and-reduce steps, column by column.
        let mut cols = [0u32; 32];
        for (i, c) in cols.iter_mut().enumerate() {
            let mut r = 1u32 << i;
            for _ in 0..8 {
                r = if r & 1 == 1 { (r >> 1) ^ POLY } else { r >> 1 };
            }
            *c = r;
        }
        let mut out = Vec::with_capacity(MAX_ZEROS_LOG2);
        for _ in 0..MAX_ZEROS_LOG2 {
            let t = tables_of(&cols);
            // Twice this many zeros: the map applied to its own columns.
            for c in cols.iter_mut() {
                *c = apply(&t, *c);
            }
            out.push(t);
        }
        out
    })
}

/// Byte tables of the linear map whose image of bit `i` is `cols[i]`.
fn tables_of(cols: &[u32; 32]) -> Tables {
    let mut t = [[0u32; 256]; 4];
    for (byte, table) in t.iter_mut().enumerate() {
        for v in 1..256usize {
            let low = v.trailing_zeros() as usize;
            table[v] = table[v & (v - 1)] ^ cols[8 * byte + low];
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zeros_match_feeding_zero_bytes() {
        for k in [0usize, 1, 2, 3, 7, 8, 100, 1000, 1023, 4096, 65_537] {
            for reg in [0u32, 1, 0x8000_0000, 0xDEAD_BEEF, u32::MAX] {
                assert_eq!(zeros(reg, k), raw(reg, &vec![0u8; k]), "k {k} reg {reg:#x}");
            }
        }
    }

    proptest! {
        #[test]
        fn update_equals_a_full_recompute(
            mut msg in proptest::collection::vec(any::<u8>(), 1..3000),
            at in 0usize..3000,
            n in 0usize..200,
            fill in proptest::collection::vec(any::<u8>(), 200),
        ) {
            let at = at % msg.len();
            let n = n.min(msg.len() - at);
            let before = crc32c::crc32c(&msg);
            let old = msg[at..at + n].to_vec();
            msg[at..at + n].copy_from_slice(&fill[..n]);
            let updated = update(before, msg.len(), at, &old, &msg[at..at + n]);
            prop_assert_eq!(updated, crc32c::crc32c(&msg));
        }
    }

    #[test]
    fn a_corrupt_message_stays_corrupt() {
        let mut msg = vec![7u8; 1500];
        let wrong = crc32c::crc32c(&msg) ^ 0x10;
        let old = msg[4..80].to_vec();
        msg[10] = 99;
        let updated = update(wrong, msg.len(), 4, &old, &msg[4..80]);
        assert_eq!(updated, crc32c::crc32c(&msg) ^ 0x10);
    }
}
