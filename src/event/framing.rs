//! How a record's JSON is framed in a Kafka message: bare, or behind the Confluent
//! Schema Registry's 5-byte header (magic byte 0, then the schema id as a big-endian
//! u32), which a registry-aware serializer writes before every JSON Schema record.

use serde::Deserialize;

use super::{err, DecodeError, DecodeReason};

/// The `format` of a `[[source]]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WireFormat {
    /// The message is the JSON record.
    #[default]
    Json,
    /// The Confluent wire format with a JSON Schema serializer: header, then JSON.
    ConfluentJson,
}

impl<'de> Deserialize<'de> for WireFormat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "json" => Ok(WireFormat::Json),
            "confluent-json" => Ok(WireFormat::ConfluentJson),
            // Their payloads need the registry's schema to decode at all.
            "avro" | "protobuf" | "confluent-avro" | "confluent-protobuf" => {
                Err(serde::de::Error::custom(format!(
                    "`{s}` is not supported: driftd reads JSON, bare (\"json\") or in the \
                     Confluent wire format (\"confluent-json\"); see docs/sending-records.md"
                )))
            }
            _ => Err(serde::de::Error::custom(format!(
                "unknown format `{s}`, expected \"json\" or \"confluent-json\""
            ))),
        }
    }
}

/// The JSON inside `bytes`, and the schema id of its header when it has one.
pub fn unframe(bytes: &[u8], format: WireFormat) -> Result<(&[u8], Option<u32>), DecodeError> {
    match format {
        WireFormat::Json => Ok((bytes, None)),
        WireFormat::ConfluentJson => match bytes {
            [] => Err(err(DecodeReason::Empty, "empty message")),
            [0, a, b, c, d, json @ ..] => Ok((json, Some(u32::from_be_bytes([*a, *b, *c, *d])))),
            [first, ..] => Err(err(
                DecodeReason::WireFormat,
                format!(
                    "not in the Confluent wire format: expected magic byte 0 and a 4-byte \
                     schema id, got {} byte{} starting with 0x{first:02x}",
                    bytes.len(),
                    if bytes.len() == 1 { "" } else { "s" }
                ),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_the_confluent_header_and_keeps_the_schema_id() {
        let mut framed = vec![0, 0, 0, 1, 44];
        framed.extend_from_slice(b"{\"model\":\"m\"}");
        let (json, id) = unframe(&framed, WireFormat::ConfluentJson).unwrap();
        assert_eq!(json, b"{\"model\":\"m\"}");
        assert_eq!(id, Some(300));
        assert_eq!(
            unframe(&framed, WireFormat::Json).unwrap(),
            (&framed[..], None)
        );
    }

    #[test]
    fn refuses_a_message_without_the_header() {
        for bytes in [
            &b"{\"model\":\"m\"}"[..],
            &[0, 0, 1],
            &[1, 0, 0, 0, 1, b'{'],
        ] {
            let e = unframe(bytes, WireFormat::ConfluentJson).unwrap_err();
            assert_eq!(e.reason, DecodeReason::WireFormat, "{bytes:?}");
            assert!(e.detail.contains("magic byte 0"), "{}", e.detail);
        }
        assert_eq!(
            unframe(b"", WireFormat::ConfluentJson).unwrap_err().reason,
            DecodeReason::Empty
        );
        // The header alone: the JSON inside is empty, which the decoder reports.
        assert_eq!(
            unframe(&[0, 0, 0, 0, 7], WireFormat::ConfluentJson)
                .unwrap()
                .0,
            b""
        );
    }
}
