//! CRC-64/Jones, as Redis' `crc64.c` computes it for DUMP payloads and RDB
//! files: reflected polynomial `0xad93d23594c935a9`, initial value 0, no
//! final xor. One table of 256 entries, built at compile time.

/// The polynomial, bit-reversed for the reflected (LSB-first) algorithm.
const REFLECTED_POLY: u64 = 0x95ac_9329_ac4b_c9b5;

const TABLE: [u64; 256] = table();

const fn table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ REFLECTED_POLY } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// The CRC-64 of `data`.
pub fn crc64(data: &[u8]) -> u64 {
    data.iter().fold(0, |crc, &byte| TABLE[((crc ^ u64::from(byte)) & 0xff) as usize] ^ (crc >> 8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_check_value() {
        // Redis' crc64.c self-test: crc64(0, "123456789") == 0xe9c6d914c4b8d9ca.
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        assert_eq!(crc64(b""), 0);
    }
}
