//! What the `Error` and `StreamStatus` values inside a TradeStation stream
//! mean, as enums instead of text to compare.
//!
//! A stream's 200 body can carry `{"Error":"GoAway","Message":"…"}` or
//! `{"StreamStatus":"GoAway"}` between its data lines. A few values end the
//! whole request, whichever symbol they name; any other `Error` is a
//! failure of one symbol (`FAILED, INVALID SYMBOL`) and the stream goes on.
//! Both enums keep values they do not know in `Other`, so a new value from
//! TradeStation parses, serialises back unchanged, and never ends a stream
//! by surprise.
//!
//! The payload structs themselves are in [`crate::ts::stream`]; this module
//! only says what their text fields mean.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The `Error` value of a stream error line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StreamErrorKind {
    /// The request is malformed; it ends the stream.
    BadRequest,
    /// The same login opened a stream elsewhere; it ends this one.
    DualLogon,
    /// The server is about to close the stream.
    GoAway,
    /// TradeStation failed; it ends the stream.
    InternalServerError,
    /// Anything else, such as `FAILED, INVALID SYMBOL` about one symbol.
    Other(String),
}

impl StreamErrorKind {
    /// The text TradeStation sends for this kind.
    pub fn as_str(&self) -> &str {
        match self {
            Self::BadRequest => "BadRequest",
            Self::DualLogon => "DualLogon",
            Self::GoAway => "GoAway",
            Self::InternalServerError => "InternalServerError",
            Self::Other(text) => text,
        }
    }

    /// True when the error ends the whole request even if it names a
    /// symbol; the client reconnects after a pause.
    pub fn ends_stream(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

impl From<&str> for StreamErrorKind {
    fn from(text: &str) -> Self {
        match text {
            "BadRequest" => Self::BadRequest,
            "DualLogon" => Self::DualLogon,
            "GoAway" => Self::GoAway,
            "InternalServerError" => Self::InternalServerError,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl From<String> for StreamErrorKind {
    fn from(text: String) -> Self {
        match Self::from(text.as_str()) {
            Self::Other(_) => Self::Other(text),
            known => known,
        }
    }
}

/// The `StreamStatus` value of a status line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StreamStatusKind {
    /// The snapshot is complete; changes follow.
    EndSnapshot,
    /// The server is about to close the stream.
    GoAway,
    /// A status this build does not know; harmless.
    Other(String),
}

impl StreamStatusKind {
    /// The text TradeStation sends for this status.
    pub fn as_str(&self) -> &str {
        match self {
            Self::EndSnapshot => "EndSnapshot",
            Self::GoAway => "GoAway",
            Self::Other(text) => text,
        }
    }

    /// True when the status ends the request.
    pub fn ends_stream(&self) -> bool {
        matches!(self, Self::GoAway)
    }
}

impl From<&str> for StreamStatusKind {
    fn from(text: &str) -> Self {
        match text {
            "EndSnapshot" => Self::EndSnapshot,
            "GoAway" => Self::GoAway,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl From<String> for StreamStatusKind {
    fn from(text: String) -> Self {
        match Self::from(text.as_str()) {
            Self::Other(_) => Self::Other(text),
            known => known,
        }
    }
}

/// Serde as the plain string TradeStation sends, both ways, for both enums.
macro_rules! text_serde {
    ($kind:ty) => {
        impl fmt::Display for $kind {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $kind {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl Serialize for $kind {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $kind {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::from)
            }
        }
    };
}

text_serde!(StreamErrorKind);
text_serde!(StreamStatusKind);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wide_errors_end_the_stream_and_symbol_failures_do_not() {
        for text in ["GoAway", "DualLogon", "InternalServerError", "BadRequest"] {
            let kind = StreamErrorKind::from(text);
            assert!(kind.ends_stream(), "{text}");
            assert_eq!(kind.as_str(), text);
        }
        let symbol = StreamErrorKind::from("FAILED, INVALID SYMBOL");
        assert_eq!(
            symbol,
            StreamErrorKind::Other("FAILED, INVALID SYMBOL".into())
        );
        assert!(!symbol.ends_stream());
        // Matching is exact: a different spelling is not a GoAway.
        assert!(!StreamErrorKind::from("goaway").ends_stream());
    }

    #[test]
    fn only_a_go_away_status_ends_the_stream() {
        assert!(StreamStatusKind::from("GoAway").ends_stream());
        assert_eq!(
            StreamStatusKind::from("EndSnapshot"),
            StreamStatusKind::EndSnapshot
        );
        assert!(!StreamStatusKind::from("EndSnapshot").ends_stream());
        assert!(!StreamStatusKind::from(String::from("Later")).ends_stream());
    }

    #[test]
    fn kinds_serialise_as_the_text_tradestation_sends() {
        let kinds: Vec<StreamErrorKind> =
            serde_json::from_str(r#"["GoAway","FAILED, INVALID SYMBOL"]"#).unwrap();
        assert_eq!(
            kinds,
            vec![
                StreamErrorKind::GoAway,
                StreamErrorKind::Other("FAILED, INVALID SYMBOL".into())
            ]
        );
        assert_eq!(
            serde_json::to_string(&kinds).unwrap(),
            r#"["GoAway","FAILED, INVALID SYMBOL"]"#
        );
        let status: StreamStatusKind = serde_json::from_str(r#""EndSnapshot""#).unwrap();
        assert_eq!(status, "EndSnapshot");
        assert_eq!(serde_json::to_string(&status).unwrap(), r#""EndSnapshot""#);
    }
}
