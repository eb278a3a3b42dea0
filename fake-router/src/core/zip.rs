//! A minimal ZIP writer: stored (uncompressed) entries, CRC-32, DOS timestamps.
//!
//! The real Router deflates file entries; stored entries are valid ZIP too and every reader
//! handles them, which is all the archive route's callers need.

use std::time::SystemTime;

use super::wire;

/// One archive member. Directory names end with `/`.
#[derive(Clone, Debug)]
pub(crate) struct ZipEntry {
    pub name: String,
    pub data: Vec<u8>,
    pub mtime: SystemTime,
}

impl ZipEntry {
    pub(crate) fn dir(name: &str, mtime: SystemTime) -> Self {
        ZipEntry {
            name: format!("{}/", name.trim_end_matches('/')),
            data: Vec::new(),
            mtime,
        }
    }

    pub(crate) fn file(name: &str, data: Vec<u8>, mtime: SystemTime) -> Self {
        ZipEntry {
            name: name.to_string(),
            data,
            mtime,
        }
    }
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320).
pub(crate) fn crc32(data: &[u8]) -> u32 {
    const fn table() -> [u32; 256] {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    }
    static TABLE: [u32; 256] = table();
    let mut c = !0u32;
    for &b in data {
        c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// MS-DOS (time, date) of a UTC time; dates before 1980 clamp to 1980-01-01.
fn dos_time(t: SystemTime) -> (u16, u16) {
    let s = wire::rfc3339(t);
    // "YYYY-MM-DDTHH:MM:SSZ"
    let num = |a: usize, b: usize| s.get(a..b).and_then(|x| x.parse::<u16>().ok()).unwrap_or(0);
    let (y, mo, d, h, mi, sec) = (
        num(0, 4),
        num(5, 7),
        num(8, 10),
        num(11, 13),
        num(14, 16),
        num(17, 19),
    );
    if y < 1980 {
        return (0, (1 << 5) | 1);
    }
    let time = (h << 11) | (mi << 5) | (sec / 2);
    let date = ((y - 1980).min(127) << 9) | (mo << 5) | d;
    (time, date)
}

/// Serialise the entries as a complete ZIP file.
pub(crate) fn write_zip(entries: &[ZipEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let offset = out.len() as u32;
        let crc = crc32(&e.data);
        let size = e.data.len() as u32;
        let (time, date) = dos_time(e.mtime);
        let name = e.name.as_bytes();
        let is_dir = e.name.ends_with('/');
        // Bit 11: the name is UTF-8.
        let flags: u16 = 1 << 11;

        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // method: stored
        out.extend_from_slice(&time.to_le_bytes());
        out.extend_from_slice(&date.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra length
        out.extend_from_slice(name);
        out.extend_from_slice(&e.data);

        let external: u32 = if is_dir {
            (0o040_755 << 16) | 0x10
        } else {
            0o100_644 << 16
        };
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes()); // made by: Unix
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&flags.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&time.to_le_bytes());
        central.extend_from_slice(&date.to_le_bytes());
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes()); // extra
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
        central.extend_from_slice(&external.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let cd_offset = out.len() as u32;
    let cd_size = central.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_check_string() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn empty_zip_is_just_the_end_record() {
        assert_eq!(write_zip(&[]).len(), 22);
    }
}
