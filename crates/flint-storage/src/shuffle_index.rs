//! Index files in Spark's layout: `num_partitions + 1` big-endian `u64` offsets into the data
//! file; and checksum files (Spark's `spark.shuffle.checksum.enabled`): one big-endian `u64`
//! per partition, the CRC-32 of its block's bytes, so a block corrupted on disk is found
//! before it is read.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The checksum algorithm, as Spark names it in checksum file names.
pub const CHECKSUM_ALGORITHM: &str = "CRC32";

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

/// The checksum file of the map output whose index file is `index_path`
/// (`shuffle_<s>_<m>_0.index` → `shuffle_<s>_<m>_0.checksum.CRC32`).
pub fn checksum_path(index_path: &Path) -> PathBuf {
    index_path.with_extension(format!("checksum.{CHECKSUM_ALGORITHM}"))
}

/// Encodes the partitions' checksums as a checksum file's bytes.
pub fn encode_checksums(checksums: &[u64]) -> Vec<u8> {
    checksums.iter().flat_map(|c| c.to_be_bytes()).collect()
}

/// Computes checksums of bytes as they are written.
#[derive(Debug, Default)]
pub struct Checksum(crc32fast::Hasher);

impl Checksum {
    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The checksum of every byte added.
    pub fn value(self) -> u64 {
        u64::from(self.0.finalize())
    }
}

/// Checks the byte range `start..end` of a data file against partition `reduce_id`'s
/// checksum in `checksum_path`, when that file exists (written with checksums on). Reads
/// the range once without keeping it; an error says the block is corrupt (or unreadable).
pub fn verify_range(
    data_path: &Path,
    checksum_path: &Path,
    reduce_id: u32,
    (start, end): (u64, u64),
) -> std::io::Result<()> {
    let mut checksums = match std::fs::File::open(checksum_path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    checksums.seek(SeekFrom::Start(u64::from(reduce_id) * 8))?;
    let mut word = [0u8; 8];
    checksums.read_exact(&mut word)?;
    let expected = u64::from_be_bytes(word);
    let mut data = std::fs::File::open(data_path)?;
    data.seek(SeekFrom::Start(start))?;
    let mut range = data.take(end - start);
    let mut checksum = Checksum::default();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = range.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        checksum.update(&buffer[..read]);
    }
    let actual = checksum.value();
    if actual != expected {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "corrupt block: its {CHECKSUM_ALGORITHM} checksum is {actual:#x}, {expected:#x} was written"
            ),
        ));
    }
    Ok(())
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

    #[test]
    fn a_block_changed_on_disk_fails_its_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("shuffle_1_2_0.data");
        let index = dir.path().join("shuffle_1_2_0.index");
        std::fs::write(&data, b"aaaabbb").unwrap();
        let checksum = |bytes: &[u8]| {
            let mut c = super::Checksum::default();
            c.update(bytes);
            c.value()
        };
        let checksums = super::checksum_path(&index);
        assert_eq!(
            checksums.file_name().unwrap(),
            "shuffle_1_2_0.checksum.CRC32"
        );
        std::fs::write(
            &checksums,
            super::encode_checksums(&[checksum(b"aaaa"), checksum(b"bbb")]),
        )
        .unwrap();
        super::verify_range(&data, &checksums, 0, (0, 4)).unwrap();
        super::verify_range(&data, &checksums, 1, (4, 7)).unwrap();
        std::fs::write(&data, b"aaaabxb").unwrap();
        super::verify_range(&data, &checksums, 0, (0, 4)).unwrap();
        let corrupt = super::verify_range(&data, &checksums, 1, (4, 7)).unwrap_err();
        assert!(corrupt.to_string().contains("corrupt block"), "{corrupt}");
        // Written without checksums: nothing to check.
        std::fs::remove_file(&checksums).unwrap();
        super::verify_range(&data, &checksums, 1, (4, 7)).unwrap();
    }

    proptest::proptest! {
        /// Index files of any bytes give a range or an error, never a panic or a range
        /// that ends before it starts; encoded lengths read back.
        #[test]
        fn any_index_file_gives_a_range_or_an_error(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            lengths in proptest::collection::vec(0u64..1 << 40, 1..8),
            reduce_id in 0u32..10,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("x.index");
            std::fs::write(&path, &bytes).unwrap();
            if let Ok((start, end)) = super::read_range(&path, reduce_id) {
                proptest::prop_assert!(start <= end);
            }
            std::fs::write(&path, super::encode_index(&lengths)).unwrap();
            if let Some(length) = lengths.get(reduce_id as usize) {
                let (start, end) = super::read_range(&path, reduce_id).unwrap();
                proptest::prop_assert_eq!(end - start, *length);
            }
        }
    }
}
