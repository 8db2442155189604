//! Ids that must be the same in every run and every process.

/// A stable 128-bit hex digest (two FNV-1a 64 lanes), for outbox entries, CloudEvent
/// ids and Message-IDs: a re-decided action gets the id it had before a crash.
pub(crate) fn stable_id(parts: &[&str]) -> String {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x6c62_272e_07bb_0142;
    for part in parts {
        for &byte in part.as_bytes().iter().chain(std::iter::once(&0xffu8)) {
            a = (a ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
            b = (b ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3 ^ 0x2_0000);
        }
    }
    format!("{a:016x}{b:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_ids_differ_by_part_boundaries() {
        assert_eq!(stable_id(&["a", "b"]), stable_id(&["a", "b"]));
        assert_ne!(stable_id(&["ab", ""]), stable_id(&["a", "b"]));
        assert_eq!(stable_id(&["x"]).len(), 32);
    }
}
