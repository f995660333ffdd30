//! The Connect service's message codec: prost's, with a limit on how deeply a request's
//! messages nest, checked on the bytes before anything is decoded (Spark's
//! `spark.connect.grpc.marshallerRecursionLimit`). Decoding and planning recurse once per
//! level: without a limit a request of a few kilobytes nested a few thousand levels deep
//! overflows the server's stack and kills it.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Buf;
use prost::Message;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic_prost::ProstEncoder;

/// `spark.connect.grpc.marshallerRecursionLimit` of this process's Connect server.
static RECURSION_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_RECURSION_LIMIT);

/// Spark's default limit.
pub(crate) const DEFAULT_RECURSION_LIMIT: usize = 1024;

/// Sets the nesting limit of every request decoded from now on.
pub(crate) fn set_recursion_limit(limit: usize) {
    RECURSION_LIMIT.store(limit, Ordering::Relaxed);
}

/// prost's codec, with requests nested deeper than the limit refused.
#[derive(Debug, Clone)]
pub struct ConnectCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for ConnectCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for ConnectCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = DepthLimitedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        DepthLimitedDecoder(PhantomData)
    }
}

/// Decodes a message once its nesting is known to be within the limit.
#[derive(Debug)]
pub struct DepthLimitedDecoder<U>(PhantomData<U>);

impl<U: Message + Default> Decoder for DepthLimitedDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        let bytes = buf.copy_to_bytes(buf.remaining());
        let limit = RECURSION_LIMIT.load(Ordering::Relaxed);
        if nesting_exceeds(&bytes, limit) {
            return Err(Status::invalid_argument(format!(
                "the request's messages nest more than {limit} levels deep \
                 (spark.connect.grpc.marshallerRecursionLimit)"
            )));
        }
        U::decode(bytes)
            .map(Some)
            .map_err(|error| Status::invalid_argument(format!("malformed request: {error}")))
    }
}

/// Whether the protobuf message in `bytes` may nest more than `limit` levels deep.
///
/// Without the schema a length-delimited field may be a message or bytes; it is taken as a
/// message while its contents parse as fields, and as bytes from the first byte that does
/// not. So the answer is an upper bound of the real depth: a real message always parses. It
/// takes one pass with no recursion: a field that turns out to be bytes is skipped from
/// where it stopped parsing, and its enclosing fields stay messages.
pub(crate) fn nesting_exceeds(bytes: &[u8], limit: usize) -> bool {
    // The ends of the length-delimited fields being read as messages, innermost last.
    let mut ends: Vec<usize> = vec![];
    let mut position = 0;
    loop {
        let end = ends.last().copied().unwrap_or(bytes.len());
        if position == end {
            if ends.pop().is_none() {
                return false;
            }
            continue;
        }
        let Some(step) = next_field(&bytes[position..end]) else {
            // Not a message: bytes, skipped whole. At the top level the decoder reports it.
            if ends.pop().is_none() {
                return false;
            }
            position = end;
            continue;
        };
        match step {
            Field::Scalar(size) => position += size,
            Field::Delimited { header, length } => {
                position += header;
                ends.push(position + length);
                if ends.len() > limit {
                    return true;
                }
            }
        }
    }
}

/// One field's wire-format shape.
enum Field {
    /// A field of this many bytes, tag included, that holds no message.
    Scalar(usize),
    /// A length-delimited field: its tag and length take `header` bytes, its contents
    /// `length`.
    Delimited { header: usize, length: usize },
}

/// The field at the start of `bytes`, or `None` when they do not start with a valid one
/// that fits in them.
fn next_field(bytes: &[u8]) -> Option<Field> {
    let (tag, tag_size) = varint(bytes)?;
    if tag >> 3 == 0 {
        return None;
    }
    let rest = &bytes[tag_size..];
    let size = match tag & 7 {
        0 => varint(rest)?.1,
        1 => 8,
        5 => 4,
        2 => {
            let (length, length_size) = varint(rest)?;
            let length = usize::try_from(length).ok()?;
            if length > rest.len() - length_size {
                return None;
            }
            return Some(Field::Delimited {
                header: tag_size + length_size,
                length,
            });
        }
        // Groups (3, 4) are not used by Spark Connect; 6 and 7 do not exist.
        _ => return None,
    };
    (size <= rest.len()).then_some(Field::Scalar(tag_size + size))
}

/// A base-128 varint at the start of `bytes`: its value and size.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (index, byte) in bytes.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Some((value, index + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use spark_connect::{Plan, Project, Relation, plan, relation};

    use super::*;

    /// `depth` projections stacked on one another, as a long chain of `select` calls.
    fn chain(depth: usize) -> Vec<u8> {
        let mut root = Relation::default();
        for _ in 0..depth {
            root = Relation {
                rel_type: Some(relation::RelType::Project(Box::new(Project {
                    input: Some(Box::new(root)),
                    expressions: vec![],
                }))),
                ..Default::default()
            };
        }
        // Encoded from the inside out, as prost's own encoder would recurse.
        let plan = Plan {
            op_type: Some(plan::OpType::Root(root)),
        };
        plan.encode_to_vec()
    }

    /// Each projection is two levels (the relation and its project); the plan one more.
    #[test]
    fn real_nesting_is_measured() {
        assert!(!nesting_exceeds(&chain(100), 201));
        assert!(nesting_exceeds(&chain(100), 200));
        assert!(!nesting_exceeds(&[], 0));
    }

    /// Bytes that are not a message do not count as levels, and what follows them is read.
    #[test]
    fn byte_fields_are_not_levels() {
        // field 1: "hello" (not valid fields), then field 2: a message holding field 1 = 5.
        let bytes = [0x0a, 5, b'h', b'e', b'l', b'l', b'o', 0x12, 2, 0x08, 5];
        assert!(!nesting_exceeds(&bytes, 1));
        assert!(nesting_exceeds(&bytes, 0));
    }

    proptest! {
        /// Any bytes: the scan ends, and a real message is never measured deeper than it is.
        #[test]
        fn any_bytes_are_scanned(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = nesting_exceeds(&bytes, 3);
        }

        #[test]
        fn any_chain_is_measured(depth in 0usize..300) {
            let bytes = chain(depth);
            prop_assert!(!nesting_exceeds(&bytes, 2 * depth + 1));
        }
    }
}
