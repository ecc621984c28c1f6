//! The columnar purchase scan that analytics reads.

use rust_decimal::Decimal;

use crate::ids::CustomerId;
use crate::money::Currency;

/// All purchases, as columns, for analytics (see `crmkit-clv`).
///
/// Row `i` is a purchase by `customers[customer_index[i]]` at `occurred_at_micros[i]` of
/// `amount[i]` in `currencies[currency_index[i]]`. Rows are in store order (by interaction id);
/// customers are numbered in order of their first purchase. Refunds are not included.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, NewCustomer, NewInteraction, Money};
/// let crm = Crm::in_memory();
/// let c = crm.create_customer(NewCustomer::person("Bo"))?;
/// crm.record(NewInteraction::purchase(c.id, chrono::Utc::now(), Money::parse("5", "USD")?))?;
/// let cols = crm.store().scan_purchases()?;
/// assert_eq!((cols.len(), cols.customers.len()), (1, 1));
/// assert_eq!(cols.amount_f64(), vec![5.0]);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PurchaseColumns {
    /// Customer of each index.
    pub customers: Vec<CustomerId>,
    /// Currency of each index.
    pub currencies: Vec<Currency>,
    /// Per row: index into `customers`.
    pub customer_index: Vec<u32>,
    /// Per row: microseconds since the Unix epoch.
    pub occurred_at_micros: Vec<i64>,
    /// Per row: exact amount.
    pub amount: Vec<Decimal>,
    /// Per row: index into `currencies`.
    pub currency_index: Vec<u16>,
}

impl PurchaseColumns {
    /// Number of purchases.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::PurchaseColumns::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.customer_index.len()
    }

    /// Whether there are none.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::PurchaseColumns::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.customer_index.is_empty()
    }

    /// The amounts as `f64`: where exact money meets statistics.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::PurchaseColumns::default().amount_f64().is_empty());
    /// ```
    pub fn amount_f64(&self) -> Vec<f64> {
        use rust_decimal::prelude::ToPrimitive;
        self.amount.iter().map(|d| d.to_f64().unwrap_or(f64::NAN)).collect()
    }

    /// Appends one row, numbering customers and currencies as they first appear.
    /// Backends build the columns with it, so that all number them the same way.
    ///
    /// `lookup` maps the backend's own customer key to the index already given, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{PurchaseColumns, CustomerId, Currency};
    /// let mut cols = PurchaseColumns::default();
    /// let mut seen = std::collections::HashMap::new();
    /// let id = CustomerId::from_u128(9);
    /// cols.push_row(&mut seen, id, id, 0, "1.5".parse().unwrap(), Currency::USD);
    /// cols.push_row(&mut seen, id, id, 1, "2".parse().unwrap(), Currency::USD);
    /// assert_eq!(cols.customer_index, vec![0, 0]);
    /// ```
    pub fn push_row<K: std::hash::Hash + Eq, S: std::hash::BuildHasher>(
        &mut self,
        seen: &mut std::collections::HashMap<K, u32, S>,
        key: K,
        customer: CustomerId,
        occurred_at_micros: i64,
        amount: Decimal,
        currency: Currency,
    ) {
        let next = self.customers.len() as u32;
        let idx = *seen.entry(key).or_insert(next);
        if idx == next {
            self.customers.push(customer);
        }
        let cur = match self.currencies.iter().position(|c| *c == currency) {
            Some(i) => i as u16,
            None => {
                self.currencies.push(currency);
                (self.currencies.len() - 1) as u16
            }
        };
        self.customer_index.push(idx);
        self.occurred_at_micros.push(occurred_at_micros);
        self.amount.push(amount);
        self.currency_index.push(cur);
    }
}
