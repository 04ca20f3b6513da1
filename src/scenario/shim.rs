//! TEMPORARY: replaced by the scenario branch's real implementations.
use super::*;

impl Plan {
    pub fn key(&self, index: u64, _date: (i32, u32, u32), out: &mut String) {
        use std::fmt::Write;
        let _ = write!(out, "{index:08}");
    }
    pub fn object_size(&self, index: u64) -> u64 {
        let mut z = index
            .wrapping_add(self.seed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        self.dataset
            .size
            .pick((z >> 11) as f64 / (1u64 << 53) as f64)
    }
}
