//! Sufficient statistics: customers collapsed into weighted unique `(x, t_x, T)` cells.

use crate::error::{ClvError, Result};

/// Customers as weighted unique cells of frequency `x` (repeat purchases), recency `t_x` (time of
/// the last repeat purchase since the first) and age `T` (time since the first purchase), all in
/// one time unit. Models fit on cells: CDNOW's 23,570 customers are a few thousand cells.
///
/// # Examples
///
/// ```
/// use crmkit_clv::Cells;
/// let cells = Cells::from_columns(&[0.0, 2.0, 0.0], &[0.0, 5.0, 0.0], &[10.0, 12.0, 10.0])?;
/// assert_eq!((cells.len(), cells.total_weight()), (2, 3.0));
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cells {
    /// Repeat purchases per cell.
    pub x: Vec<f64>,
    /// Recency per cell.
    pub t_x: Vec<f64>,
    /// Age per cell.
    pub t: Vec<f64>,
    /// Customers per cell.
    pub weight: Vec<f64>,
}

/// Checks the per-customer columns a prediction takes: equal lengths, `x` a whole number ≥ 0,
/// `0 ≤ t_x ≤ T`, `t_x = 0` when `x = 0`, all finite (`T = 0` is allowed: a customer seen today).
/// Errors name the column and the row.
///
/// # Examples
///
/// ```
/// use crmkit_clv::data::check_prediction_columns;
/// assert!(check_prediction_columns(&[1.0], &[2.0], &[3.0]).is_ok());
/// let e = check_prediction_columns(&[0.0], &[2.0], &[3.0]).unwrap_err();
/// assert!(e.to_string().contains("recency at row 0"));
/// ```
pub fn check_prediction_columns(x: &[f64], t_x: &[f64], big_t: &[f64]) -> Result<()> {
    let n = x.len();
    if t_x.len() != n || big_t.len() != n {
        return Err(ClvError::LengthMismatch {
            message: format!("frequency {n}, recency {}, T {}", t_x.len(), big_t.len()),
        });
    }
    let bad = |column: &str, index: usize, message: String| ClvError::InvalidInput {
        column: column.into(),
        index,
        message,
    };
    for i in 0..n {
        let (xi, txi, ti) = (x[i], t_x[i], big_t[i]);
        if !(xi.is_finite() && xi >= 0.0 && xi.fract() == 0.0) {
            return Err(bad("frequency", i, format!("{xi} is not a whole number ≥ 0")));
        }
        if !(ti.is_finite() && ti >= 0.0) {
            return Err(bad("T", i, format!("{ti} is not a finite number ≥ 0")));
        }
        if !(txi.is_finite() && txi >= 0.0 && txi <= ti) {
            return Err(bad("recency", i, format!("{txi} is not within [0, T = {ti}]")));
        }
        if xi == 0.0 && txi != 0.0 {
            return Err(bad("recency", i, format!("{txi} with frequency 0 (must be 0)")));
        }
    }
    Ok(())
}

impl Cells {
    /// Collapses per-customer columns into cells, checking every value: `x` a whole number ≥ 0,
    /// `0 ≤ t_x ≤ T`, `T > 0`, `t_x = 0` when `x = 0`, all finite.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = crmkit_clv::Cells::from_columns(&[1.0], &[5.0], &[4.0]).unwrap_err();
    /// assert!(err.to_string().contains("recency at row 0"));
    /// ```
    pub fn from_columns(frequency: &[f64], recency: &[f64], t: &[f64]) -> Result<Cells> {
        let ones = vec![1.0; frequency.len()];
        Cells::from_weighted_columns(frequency, recency, t, &ones)
    }

    /// Like [`Cells::from_columns`], with a weight (number of customers) per row.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = crmkit_clv::Cells::from_weighted_columns(&[1.0, 1.0], &[2.0, 2.0], &[3.0, 3.0], &[5.0, 2.0])?;
    /// assert_eq!(c.weight, vec![7.0]);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn from_weighted_columns(
        frequency: &[f64],
        recency: &[f64],
        t: &[f64],
        weight: &[f64],
    ) -> Result<Cells> {
        let n = frequency.len();
        if recency.len() != n || t.len() != n || weight.len() != n {
            return Err(ClvError::LengthMismatch {
                message: format!(
                    "frequency {n}, recency {}, T {}, weight {}",
                    recency.len(),
                    t.len(),
                    weight.len()
                ),
            });
        }
        let bad = |column: &str, index: usize, message: String| ClvError::InvalidInput {
            column: column.into(),
            index,
            message,
        };
        let mut rows: Vec<(u64, u64, u64, f64)> = Vec::with_capacity(n);
        for i in 0..n {
            let (x, tx, tt, w) = (frequency[i], recency[i], t[i], weight[i]);
            if !x.is_finite() || x < 0.0 || x.fract() != 0.0 {
                return Err(bad("frequency", i, format!("{x} is not a whole number ≥ 0")));
            }
            if !tt.is_finite() || tt <= 0.0 {
                return Err(bad("T", i, format!("{tt} is not a positive number")));
            }
            if !tx.is_finite() || tx < 0.0 || tx > tt {
                return Err(bad("recency", i, format!("{tx} is not within [0, T = {tt}]")));
            }
            if x == 0.0 && tx != 0.0 {
                return Err(bad("recency", i, format!("{tx} with frequency 0 (must be 0)")));
            }
            if !w.is_finite() || w < 0.0 {
                return Err(bad("weight", i, format!("{w} is not a number ≥ 0")));
            }
            if w > 0.0 {
                rows.push((x.to_bits(), tx.to_bits(), tt.to_bits(), w));
            }
        }
        if rows.is_empty() {
            return Err(ClvError::NoData("no customers".into()));
        }
        // Non-negative floats order like their bit patterns.
        rows.sort_unstable_by_key(|r| (r.0, r.1, r.2));
        let mut cells = Cells::default();
        for (x, tx, tt, w) in rows {
            let same = cells.x.last().is_some_and(|lx| lx.to_bits() == x)
                && cells.t_x.last().is_some_and(|l| l.to_bits() == tx)
                && cells.t.last().is_some_and(|l| l.to_bits() == tt);
            if same {
                if let Some(last) = cells.weight.last_mut() {
                    *last += w;
                }
            } else {
                cells.x.push(f64::from_bits(x));
                cells.t_x.push(f64::from_bits(tx));
                cells.t.push(f64::from_bits(tt));
                cells.weight.push(w);
            }
        }
        Ok(cells)
    }

    /// The cells to fit a model on: [`Cells::from_weighted_columns`] (every weight 1 when
    /// `weight` is `None`), leaving out the customers observed for no time at all: `T = 0` (so
    /// `x = t_x = 0`), whose first purchase is at the very end of observation. Their likelihood
    /// is 1 whatever the parameters, so they carry no information, and a fit would count them as
    /// customers. Every other row is checked as usual; when no customer is left the error is
    /// [`ClvError::NoData`].
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::Cells;
    /// let (x, t_x, t) = ([0.0, 2.0, 0.0], [0.0, 5.0, 0.0], [10.0, 12.0, 0.0]);
    /// let cells = Cells::for_fit(&x, &t_x, &t, None)?;
    /// assert_eq!((cells.len(), cells.total_weight()), (2, 2.0));
    /// assert!(Cells::from_columns(&x, &t_x, &t).is_err()); // T = 0 is not a cell
    /// assert!(matches!(Cells::for_fit(&[0.0], &[0.0], &[0.0], None), Err(crmkit_clv::ClvError::NoData(_))));
    /// let err = Cells::for_fit(&[0.0, 1.0], &[0.0, 5.0], &[0.0, 4.0], None).unwrap_err();
    /// assert!(err.to_string().contains("recency at row 1"));
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn for_fit(
        frequency: &[f64],
        recency: &[f64],
        t: &[f64],
        weight: Option<&[f64]>,
    ) -> Result<Cells> {
        let n = frequency.len();
        let ones;
        let weight = match weight {
            Some(w) => w,
            None => {
                ones = vec![1.0; n];
                &ones
            }
        };
        let unobserved = |i: usize| t[i] == 0.0 && frequency[i] == 0.0 && recency[i] == 0.0;
        if recency.len() != n || t.len() != n || weight.len() != n || !(0..n).any(unobserved) {
            return Cells::from_weighted_columns(frequency, recency, t, weight);
        }
        let keep: Vec<usize> = (0..n).filter(|&i| !unobserved(i)).collect();
        if keep.is_empty() {
            return Err(ClvError::NoData(
                "every customer has T = 0 (first purchase at the end of observation)".into(),
            ));
        }
        let pick = |v: &[f64]| keep.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        // Errors name the row of the input, not of the rows kept.
        Cells::from_weighted_columns(&pick(frequency), &pick(recency), &pick(t), &pick(weight))
            .map_err(|e| match e {
                ClvError::InvalidInput { column, index, message } => {
                    ClvError::InvalidInput { column, index: keep[index], message }
                }
                other => other,
            })
    }

    /// Number of cells.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_clv::Cells::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Whether there are no cells.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_clv::Cells::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// Number of customers.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_clv::Cells::default().total_weight(), 0.0);
    /// ```
    pub fn total_weight(&self) -> f64 {
        self.weight.iter().sum()
    }
}
