//! A string that never shows itself in `Debug`, `Display`, logs or traces.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret value: an API key, a token, a webhook secret or a share-link token.
///
/// `Debug` and `Display` print `[redacted]`. Read the value on purpose with
/// [`SecretString::expose`]. It serialises as the plain string, because the Router
/// sends and receives it that way. Cloning is cheap (shared, not copied).
///
/// ```
/// use agenttier::SecretString;
/// let key = SecretString::new("atk_abc");
/// assert_eq!(format!("{key:?}"), "SecretString([redacted])");
/// assert_eq!(key.to_string(), "[redacted]");
/// assert_eq!(key.expose(), "atk_abc");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Arc<str>);

impl Default for SecretString {
    fn default() -> Self {
        Self(Arc::from(""))
    }
}

impl SecretString {
    /// Wraps a secret.
    ///
    /// ```
    /// let token = agenttier::SecretString::new("atk_live_123");
    /// assert_eq!(token.to_string(), "[redacted]");
    /// ```
    pub fn new(value: impl Into<String>) -> Self {
        Self(Arc::from(value.into()))
    }

    /// The secret itself. Call this only where the value must leave the program.
    ///
    /// ```
    /// let token = agenttier::SecretString::new("atk_live_123");
    /// assert_eq!(token.expose(), "atk_live_123");
    /// ```
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string.
    ///
    /// ```
    /// use agenttier::SecretString;
    /// assert!(SecretString::default().is_empty());
    /// assert!(!SecretString::new("atk_live_123").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(Arc::from(value))
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self(Arc::from(value))
    }
}

impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(feature = "schemars")]
impl schemars::JsonSchema for SecretString {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SecretString".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
}
