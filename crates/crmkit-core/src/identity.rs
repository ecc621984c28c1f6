//! Identity keys: normalised e-mail, phone and external ids, unique per store.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which kind of identity a key is, and for external ids, which source system.
///
/// # Examples
///
/// ```
/// use crmkit_core::{IdentityKind, IdentityKey};
/// let kind: IdentityKind = "external:shopify".parse()?;
/// assert_eq!(kind.key("123")?, IdentityKey::external("shopify", "123")?);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdentityKind {
    /// An e-mail address.
    Email,
    /// A phone number.
    Phone,
    /// An id in another system (shop, billing, ...), named by `system`.
    External(String),
}

impl IdentityKind {
    /// Builds and normalises a key of this kind from raw text.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::IdentityKind;
    /// assert_eq!(IdentityKind::Email.key(" Ada@Example.ORG ")?.value(), "ada@example.org");
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn key(&self, raw: &str) -> Result<IdentityKey> {
        match self {
            IdentityKind::Email => IdentityKey::email(raw),
            IdentityKind::Phone => IdentityKey::phone(raw),
            IdentityKind::External(system) => IdentityKey::external(system, raw),
        }
    }
}

impl FromStr for IdentityKind {
    type Err = Error;
    /// `email`, `phone` or `external:SYSTEM`.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "email" => Ok(IdentityKind::Email),
            "phone" => Ok(IdentityKind::Phone),
            other => match other.strip_prefix("external:").or_else(|| other.strip_prefix("ext:")) {
                Some(system) => Ok(IdentityKind::External(normalise_system(system)?)),
                None => Err(Error::validation(
                    "identity kind",
                    format!("{s:?}: expected email, phone or external:SYSTEM"),
                )),
            },
        }
    }
}

/// A normalised identity key. Its fields are private so a key is always normalised:
///
/// - e-mail: trimmed and lower-cased, one `@` with text on both sides, no spaces;
/// - phone: digits only with an optional leading `+` (`00` becomes `+`), 6 to 15 digits (E.164);
/// - external: `system` lower-cased, `id` trimmed (case kept: ids are often case-sensitive).
///
/// Its text form is `email:…`, `phone:…` or `ext:SYSTEM:ID`.
///
/// # Examples
///
/// ```
/// use crmkit_core::IdentityKey;
///
/// assert_eq!(IdentityKey::phone("+44 (0)20 7946-0018")?.value(), "+4402079460018");
/// let key: IdentityKey = "ext:cdnow:00001".parse()?;
/// assert_eq!(key.to_string(), "ext:cdnow:00001");
/// assert!(IdentityKey::email("not-an-address").is_err());
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdentityKey {
    // "email", "phone" or "ext:<system>"
    namespace: String,
    value: String,
}

impl IdentityKey {
    /// A normalised e-mail key.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::IdentityKey::email("A@B.C")?.to_string(), "email:a@b.c");
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn email(raw: &str) -> Result<IdentityKey> {
        let v = raw.trim().to_lowercase();
        let bad = |why: &str| Error::validation("email", format!("{raw:?} {why}"));
        let (local, domain) = v.split_once('@').ok_or_else(|| bad("has no @"))?;
        if local.is_empty() || domain.is_empty() || domain.contains('@') {
            return Err(bad("is not of the form local@domain"));
        }
        if v.chars().any(char::is_whitespace) {
            return Err(bad("contains whitespace"));
        }
        Ok(IdentityKey { namespace: "email".into(), value: v })
    }

    /// A normalised phone key.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::IdentityKey::phone("0049 30 1234567")?.value(), "+49301234567");
    /// assert!(crmkit_core::IdentityKey::phone("12ab").is_err());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn phone(raw: &str) -> Result<IdentityKey> {
        let t = raw.trim();
        let bad = |why: &str| Error::validation("phone", format!("{raw:?} {why}"));
        let (plus, rest) = match t.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => match t.strip_prefix("00") {
                Some(rest) => (true, rest),
                None => (false, t),
            },
        };
        let mut digits = String::with_capacity(rest.len() + 1);
        if plus {
            digits.push('+');
        }
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' | '/' => {}
                _ => return Err(bad("contains characters other than digits and + - . ( ) /")),
            }
        }
        let n = digits.trim_start_matches('+').len();
        if !(6..=15).contains(&n) {
            return Err(bad("must have 6 to 15 digits"));
        }
        Ok(IdentityKey { namespace: "phone".into(), value: digits })
    }

    /// A key for an id in another system.
    ///
    /// # Examples
    ///
    /// ```
    /// let k = crmkit_core::IdentityKey::external("Shopify", " 123 ")?;
    /// assert_eq!(k.to_string(), "ext:shopify:123");
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn external(system: &str, id: &str) -> Result<IdentityKey> {
        let system = normalise_system(system)?;
        let id = id.trim();
        if id.is_empty() {
            return Err(Error::validation("external id", "is empty"));
        }
        Ok(IdentityKey { namespace: format!("ext:{system}"), value: id.to_owned() })
    }

    /// The kind of this key.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{IdentityKey, IdentityKind};
    /// assert_eq!(IdentityKey::email("a@b")?.kind(), IdentityKind::Email);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn kind(&self) -> IdentityKind {
        match self.namespace.as_str() {
            "email" => IdentityKind::Email,
            "phone" => IdentityKind::Phone,
            ns => IdentityKind::External(ns.trim_start_matches("ext:").to_owned()),
        }
    }

    /// The normalised value (without the kind prefix).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::IdentityKey::external("crm", "X1")?.value(), "X1");
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn value(&self) -> &str {
        &self.value
    }
}

fn normalise_system(system: &str) -> Result<String> {
    let s = system.trim().to_lowercase();
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
        return Err(Error::validation(
            "external system",
            format!("{system:?}: expected a non-empty name of letters, digits, _ - ."),
        ));
    }
    Ok(s)
}

impl fmt::Display for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.value)
    }
}

impl FromStr for IdentityKey {
    type Err = Error;
    /// Parses `email:…`, `phone:…` or `ext:SYSTEM:ID`; a bare value with an `@` is taken as an e-mail.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        if let Some(v) = t.strip_prefix("email:") {
            IdentityKey::email(v)
        } else if let Some(v) = t.strip_prefix("phone:") {
            IdentityKey::phone(v)
        } else if let Some(v) = t.strip_prefix("ext:").or_else(|| t.strip_prefix("external:")) {
            let (system, id) = v.split_once(':').ok_or_else(|| {
                Error::validation("identity key", format!("{s:?}: expected ext:SYSTEM:ID"))
            })?;
            IdentityKey::external(system, id)
        } else if t.contains('@') {
            IdentityKey::email(t)
        } else {
            Err(Error::validation(
                "identity key",
                format!("{s:?}: expected email:ADDRESS, phone:NUMBER or ext:SYSTEM:ID"),
            ))
        }
    }
}

impl TryFrom<String> for IdentityKey {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<IdentityKey> for String {
    fn from(k: IdentityKey) -> String {
        k.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_roundtrips() {
        for k in [
            IdentityKey::email("Ada@Example.org").unwrap(),
            IdentityKey::phone("+1 (555) 010-9999").unwrap(),
            IdentityKey::external("Shop", "a:b").unwrap(),
        ] {
            assert_eq!(k.to_string().parse::<IdentityKey>().unwrap(), k);
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(serde_json::from_str::<IdentityKey>(&json).unwrap(), k);
        }
    }

    #[test]
    fn bad_keys_are_rejected() {
        for bad in ["", "@x", "x@", "a b@c", "a@b@c"] {
            assert!(IdentityKey::email(bad).is_err(), "{bad}");
        }
        for bad in ["", "123", "+12 34x", "1234567890123456"] {
            assert!(IdentityKey::phone(bad).is_err(), "{bad}");
        }
        assert!(IdentityKey::external("", "1").is_err());
        assert!(IdentityKey::external("a b", "1").is_err());
        assert!(IdentityKey::external("s", "  ").is_err());
    }
}
