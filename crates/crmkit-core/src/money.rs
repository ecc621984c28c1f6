//! Exact money: a [`rust_decimal::Decimal`] amount with a validated ISO 4217 [`Currency`].

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Active ISO 4217 alphabetic codes (list of 2024, plus the X-codes for metals and testing).
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS",
    "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW",
    "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD",
    "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR",
    "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL",
    "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
    "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR",
    "XOF", "XPD", "XPF", "XPT", "XSU", "XTS", "XUA", "XXX", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
];

/// An ISO 4217 currency code, validated against the list of active codes.
///
/// # Examples
///
/// ```
/// use crmkit_core::Currency;
///
/// let eur: Currency = " eur ".parse()?;
/// assert_eq!(eur.code(), "EUR");
/// assert!("EUX".parse::<Currency>().is_err());
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// US dollar.
    pub const USD: Currency = Currency(*b"USD");
    /// Euro.
    pub const EUR: Currency = Currency(*b"EUR");
    /// Pound sterling.
    pub const GBP: Currency = Currency(*b"GBP");

    /// Parses and validates a code; surrounding whitespace and case are ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::Currency::new("gbp")?, crmkit_core::Currency::GBP);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn new(code: &str) -> Result<Currency> {
        let upper = code.trim().to_ascii_uppercase();
        match ISO_4217.binary_search(&upper.as_str()) {
            Ok(_) => {
                let b = upper.as_bytes();
                Ok(Currency([b[0], b[1], b[2]]))
            }
            Err(_) => Err(Error::validation(
                "currency",
                format!("{code:?} is not an ISO 4217 currency code"),
            )),
        }
    }

    /// The three-letter code.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::Currency::USD.code(), "USD");
    /// ```
    pub fn code(&self) -> &str {
        // The bytes come from ISO_4217, which is ASCII.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl FromStr for Currency {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Currency::new(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Currency::new(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}

/// An exact amount of money in one currency. Never a float.
///
/// Adding two different currencies is an error ([`Error::CurrencyMismatch`]), never a silent sum.
///
/// # Examples
///
/// ```
/// use crmkit_core::Money;
///
/// let a = Money::parse("0.10", "USD")?;
/// let b = Money::parse("0.20", "USD")?;
/// assert_eq!(a.checked_add(&b)?, Money::parse("0.30", "USD")?);
/// assert!(a.checked_add(&Money::parse("1", "EUR")?).is_err());
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The exact amount.
    pub amount: Decimal,
    /// Its currency.
    pub currency: Currency,
}

impl Money {
    /// Money from a decimal and a currency.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Currency, Money};
    /// use rust_decimal::Decimal;
    /// let m = Money::new(Decimal::new(1999, 2), Currency::EUR);
    /// assert_eq!(m.to_string(), "19.99 EUR");
    /// ```
    pub fn new(amount: Decimal, currency: Currency) -> Money {
        Money { amount, currency }
    }

    /// Zero in a currency.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::Money::zero(crmkit_core::Currency::USD).amount.is_zero());
    /// ```
    pub fn zero(currency: Currency) -> Money {
        Money { amount: Decimal::ZERO, currency }
    }

    /// Parses an amount written with a `.` decimal point (no thousands separators) and a currency code.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = crmkit_core::Money::parse(" 12.50 ", "usd")?;
    /// assert_eq!(m.to_string(), "12.50 USD");
    /// assert!(crmkit_core::Money::parse("twelve", "USD").is_err());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn parse(amount: &str, currency: &str) -> Result<Money> {
        Ok(Money { amount: parse_decimal("amount", amount)?, currency: Currency::new(currency)? })
    }

    /// The sum, or [`Error::CurrencyMismatch`]; overflow is a validation error.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::Money;
    /// let sum = Money::parse("1", "EUR")?.checked_add(&Money::parse("2.5", "EUR")?)?;
    /// assert_eq!(sum.to_string(), "3.5 EUR");
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn checked_add(&self, other: &Money) -> Result<Money> {
        if self.currency != other.currency {
            return Err(Error::CurrencyMismatch { left: self.currency, right: other.currency });
        }
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or_else(|| Error::validation("amount", "sum overflows"))?;
        Ok(Money { amount, currency: self.currency })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// Parses a decimal number written with `.` as the decimal point; `field` names it in the error.
///
/// Scientific notation is accepted (`1e3`); thousands separators and commas are not.
///
/// # Examples
///
/// ```
/// use crmkit_core::money::parse_decimal;
/// assert_eq!(parse_decimal("amount", "2.50")?.to_string(), "2.50");
/// assert!(parse_decimal("amount", "NaN").is_err());
/// # Ok::<(), crmkit_core::Error>(())
/// ```
pub fn parse_decimal(field: &str, text: &str) -> Result<Decimal> {
    let t = text.trim();
    if t.is_empty() {
        return Err(Error::validation(field, "is empty; expected a number"));
    }
    Decimal::from_str(t)
        .or_else(|_| Decimal::from_scientific(t))
        .map_err(|_| Error::validation(field, format!("{t:?} is not a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_list_is_sorted_for_binary_search() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn currency_roundtrips_through_json() {
        let json = serde_json::to_string(&Currency::EUR).unwrap();
        assert_eq!(json, "\"EUR\"");
        assert_eq!(serde_json::from_str::<Currency>(&json).unwrap(), Currency::EUR);
        assert!(serde_json::from_str::<Currency>("\"ABC\"").is_err());
    }

    #[test]
    fn money_is_exact() {
        let mut sum = Money::zero(Currency::USD);
        for _ in 0..10 {
            sum = sum.checked_add(&Money::parse("0.1", "USD").unwrap()).unwrap();
        }
        assert_eq!(sum, Money::parse("1.0", "USD").unwrap());
    }

    #[test]
    fn mixing_currencies_is_an_error() {
        let e = Money::parse("1", "USD").unwrap().checked_add(&Money::parse("1", "EUR").unwrap());
        assert!(matches!(e, Err(Error::CurrencyMismatch { .. })));
    }
}
