//! Index files in Spark's layout: `num_partitions + 1` big-endian `u64` offsets into the data file.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Encodes partition lengths as an index file's bytes.
pub fn encode_index(partition_lengths: &[u64]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity((partition_lengths.len() + 1) * 8);
    let mut offset = 0u64;
    bytes.extend_from_slice(&offset.to_be_bytes());
    for length in partition_lengths {
        offset += length;
        bytes.extend_from_slice(&offset.to_be_bytes());
    }
    bytes
}

/// Reads the byte range of `reduce_id` from an index file.
pub fn read_range(index_path: &Path, reduce_id: u32) -> std::io::Result<(u64, u64)> {
    let mut file = std::fs::File::open(index_path)?;
    file.seek(SeekFrom::Start(u64::from(reduce_id) * 8))?;
    let mut buf = [0u8; 16];
    file.read_exact(&mut buf)?;
    let start = u64::from_be_bytes(buf[..8].try_into().expect("8 bytes"));
    let end = u64::from_be_bytes(buf[8..].try_into().expect("8 bytes"));
    if end < start {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "corrupt shuffle index: offsets decrease",
        ));
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    #[test]
    fn index_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        std::fs::write(&path, super::encode_index(&[10, 0, 5])).unwrap();
        assert_eq!(super::read_range(&path, 0).unwrap(), (0, 10));
        assert_eq!(super::read_range(&path, 1).unwrap(), (10, 10));
        assert_eq!(super::read_range(&path, 2).unwrap(), (10, 15));
        assert!(super::read_range(&path, 3).is_err());
    }
}
